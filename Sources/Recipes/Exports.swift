// The recipes layer is what the `loft` command sees: the training components and the process
// facilities come with it (as NIO's umbrella module re-exports NIOCore); the lower layers
// (Autograd, Quantization, LoRA, Llama, Formats) stay behind the recipes.
@_exported import Distributed
@_exported import Support
@_exported import Training

import Autograd
import Formats
import LoRA
import Quantization

/// NF or uniform quantization levels (a `loft quantize` flag).
public typealias QuantizationMethod = QuantizationSpec.Method
/// LoftQ or QLoRA's Gaussian init (a `loft quantize` flag).
public typealias AdapterInitialization = LoRAInitialization
/// How `loftq_aware` weights its error (the CLI names it without importing LoRA).
public typealias ActivationWeightingForm = ActivationWeighting.Form
import Llama

/// Greedy or sampled next-token choice (`loft eval --gsm8k --temperature`).
public typealias Sampling = SamplingOptions

/// F32, F16 or Q8_0 tensors of an exported GGUF (`loft export --type`).
public typealias GGUFTensorType = GGUFWriter.TensorType

/// fp32 or bf16 frozen products (`--compute-dtype`).
public typealias ComputeType = Autograd.ComputeType

/// The SIMD path of Loft's kernels (`--path` of `bench dequant`, run metadata).
public typealias SIMDPath = Autograd.SIMDPath

/// What this process computes with (BLAS kernel, threads, SIMD path, CPU), for reports.
public typealias RuntimeInfo = Autograd.RuntimeInfo
/// The CPU's relevant instruction sets.
public typealias CPUFeatures = Autograd.CPUFeatures
/// The OpenBLAS kernel decision and the re-exec that applies it (at the program's start).
public typealias BLASCoreChoice = Autograd.BLASCoreChoice
/// Re-executes the process on the best OpenBLAS kernel (at the program's start).
public typealias BLASCoreSwitch = Autograd.BLASCoreSwitch
/// Process-wide memory behaviour (`keepFreedMemory`).
public typealias MemoryPolicy = Autograd.MemoryPolicy

/// The process-wide kernel choices (SIMD cap, bf16 kernel, cores, pool), applied at start.
public typealias KernelOptions = Autograd.KernelOptions

/// How a model computes a call (compute type, shared inference), handed to evaluation and generation.
public typealias ExecutionOptions = Llama.ExecutionOptions
