// swift-tools-version:6.1
// Loft runs on Linux only: it uses glibc (mmap, madvise, mallopt, getrusage), /proc/self/exe and
// Debian's OpenBLAS and SentencePiece. SwiftPM cannot declare a Linux minimum, so no Apple
// platform is listed, and `Support/Platform.swift` stops a build elsewhere with a clear error.
import PackageDescription

let package = Package(
    name: "Loft",
    products: [
        .executable(name: "loft", targets: ["LoftCLI"]),
        .library(name: "Autograd", targets: ["Autograd"]),
        .library(name: "Tokenizers", targets: ["Tokenizers"]),
        .library(name: "Llama", targets: ["Llama"]),
        .library(name: "Recipes", targets: ["Recipes"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        // The HTTP server of `loft serve`; its default traits (swift-configuration) are not needed.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.14.0"),
    ],
    targets: [
        // MARK: - Public API (components, bottom up; arrows in ../shared/DESIGN.md §2)
        .target(name: "Autograd", dependencies: ["COpenBLAS", "CKernels"]),
        .target(name: "Support"),
        .target(name: "Distributed", dependencies: ["CMPI"]),
        .target(name: "Quantization", dependencies: ["Autograd", "Support", "CKernels"]),
        .target(name: "LoRA", dependencies: ["Autograd", "Quantization"]),
        .target(name: "Llama", dependencies: ["Autograd", "LoRA", "Quantization"]),
        .target(name: "Tokenizers", dependencies: ["CSentencePiece", "Support"]),
        .target(name: "ChatTemplates"),
        .target(name: "Formats", dependencies: ["Autograd", "Support", "Quantization", "LoRA", "Llama", "Tokenizers"]),
        .target(
            name: "Training",
            dependencies: [
                "Autograd", "Support", "Formats", "Llama", "LoRA", "Quantization", "Tokenizers", "ChatTemplates",
                "Yams",
            ]),
        // MARK: - Recipes (what a command runs) and the executable
        .target(
            name: "Recipes",
            dependencies: [
                "Autograd", "Distributed", "Training", "Formats", "Llama", "LoRA", "Quantization", "Tokenizers",
                "ChatTemplates", "Support", "Yams",
            ]),
        .target(
            name: "Serving",
            dependencies: [
                "Autograd", "Recipes", "Llama", "Tokenizers", "ChatTemplates", "Support",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "Fuzzing", dependencies: ["Autograd", "Formats", "Llama", "Tokenizers", "ChatTemplates", "Training"]),
        .target(
            name: "Benchmarks",
            dependencies: ["Autograd", "Recipes", "Training", "Formats", "Llama", "LoRA", "Quantization", "Support"]),
        .executableTarget(
            name: "LoftCLI",
            dependencies: [
                "Recipes", "Benchmarks", "Fuzzing", "Serving",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // MARK: - Implementation details
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas"),
        .target(name: "CKernels"),
        .systemLibrary(name: "COpenMPI", pkgConfig: "ompi-c"),
        .target(name: "CMPI", dependencies: ["COpenMPI"]),
        .target(name: "CSentencePiece", linkerSettings: [.linkedLibrary("sentencepiece")]),
        .target(name: "_TestSupport", dependencies: ["Autograd", "Support"]),
        .target(name: "CMallocCounter"),  // tests only: counts every malloc of the test process

        // MARK: - Unit test bundles
        .testTarget(name: "AutogradTests", dependencies: ["Autograd", "CKernels", "_TestSupport"]),
        .testTarget(name: "SupportTests", dependencies: ["Support", "_TestSupport"]),
        .testTarget(name: "QuantizationTests", dependencies: ["Autograd", "Quantization", "Support", "_TestSupport"]),
        .testTarget(
            name: "LoRATests", dependencies: ["Autograd", "LoRA", "Llama", "Formats", "Quantization", "_TestSupport"]),
        .testTarget(name: "LlamaTests", dependencies: ["Autograd", "Llama", "Formats", "Tokenizers", "_TestSupport"]),
        .testTarget(
            name: "FormatsTests",
            dependencies: [
                "Autograd", "Tokenizers", "Formats", "Recipes", "Llama", "LoRA", "Quantization", "_TestSupport",
            ]),
        .testTarget(name: "TokenizersTests", dependencies: ["Tokenizers", "_TestSupport"]),
        .testTarget(name: "ChatTemplatesTests", dependencies: ["ChatTemplates", "_TestSupport"]),
        .testTarget(
            name: "TrainingTests",
            dependencies: [
                "Autograd", "ChatTemplates", "Benchmarks", "Training", "Recipes", "Formats", "Llama", "LoRA",
                "Quantization",
                "Tokenizers", "_TestSupport", "CMallocCounter",
            ]),
        .testTarget(
            name: "RecipesTests",
            dependencies: [
                "Autograd", "Recipes", "ChatTemplates", "Benchmarks", "Formats", "Llama", "LoRA", "Quantization",
                "Tokenizers",
                "Training", "_TestSupport",
            ]),
        .testTarget(
            name: "ServingTests",
            dependencies: ["Serving", "Recipes", "Llama", "Tokenizers", "ChatTemplates", "Fuzzing", "_TestSupport"]),
        .testTarget(name: "FuzzingTests", dependencies: ["Fuzzing", "Autograd", "_TestSupport"]),
        .testTarget(name: "LoftCLITests", dependencies: ["Autograd", "Support", "Formats", "_TestSupport"]),
    ],
    swiftLanguageModes: [.v5],
    cxxLanguageStandard: .cxx17
)
