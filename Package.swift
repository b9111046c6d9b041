// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Loft",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "loft", targets: ["LoftCLI"]),
        .library(name: "Autograd", targets: ["Autograd"]),
        .library(name: "Tokenizer", targets: ["Tokenizer"]),
        .library(name: "Llama", targets: ["Llama"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        // MARK: - Public API
        .target(
            name: "Autograd",
            dependencies: ["COpenBLAS", "CKernels"]
        ),
        .target(name: "Quantization", dependencies: ["Autograd"]),
        .target(name: "LoRA", dependencies: ["Autograd", "Quantization"]),
        .target(name: "Llama", dependencies: ["Autograd", "Quantization", "LoRA"]),
        .target(name: "Tokenizer", dependencies: ["CSentencePiece"]),
        .target(name: "Training", dependencies: ["Autograd", "Quantization", "LoRA", "Llama", "Tokenizer", "Yams"]),
        .executableTarget(
            name: "LoftCLI",
            dependencies: [
                "Autograd", "Quantization", "LoRA", "Llama", "Tokenizer", "Training",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // MARK: - Implementation details
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas"),
        .target(name: "CKernels"),
        .target(name: "CSentencePiece", linkerSettings: [.linkedLibrary("sentencepiece")]),
        .target(name: "_TestSupport", dependencies: ["Autograd"]),

        // MARK: - Unit test bundles
        .testTarget(name: "AutogradTests", dependencies: ["Autograd", "_TestSupport"]),
        .testTarget(name: "QuantizationTests", dependencies: ["Quantization", "_TestSupport"]),
        .testTarget(name: "LoRATests", dependencies: ["LoRA", "Llama", "_TestSupport"]),
        .testTarget(name: "LlamaTests", dependencies: ["Llama", "Tokenizer", "_TestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "_TestSupport"]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer", "_TestSupport"]),
        .testTarget(name: "LoftCLITests", dependencies: ["Autograd"]),
    ],
    swiftLanguageModes: [.v5],
    cxxLanguageStandard: .cxx17
)
