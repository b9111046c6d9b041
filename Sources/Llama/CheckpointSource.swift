import Autograd
import Quantization

/// Named Float32 tensors of a model checkpoint, read one at a time. Each format (Hugging Face
/// safetensors, llama2.c, GGUF, ...) implements it with its own name map onto `LlamaTensor`.
public protocol CheckpointSource: AnyObject {
    /// Where the tensors come from (for error messages).
    var sourceDescription: String { get }
    /// The model shape.
    var config: LlamaConfig { get }
    /// The source's own name for `tensor` (used in errors).
    func name(of tensor: LlamaTensor) -> String
    /// The stored shape of `tensor`, or nil when absent.
    func shape(of tensor: LlamaTensor) -> [Int]?
    /// `tensor` as Float32, in the `rotate_half` RoPE convention.
    func floats(_ tensor: LlamaTensor) throws -> [Float]
    /// Stored names that are no model tensor and are not tolerated extras.
    var unexpectedTensorNames: [String] { get }
    /// A decoder linear stored quantized, handed as it is (the model keeps it packed), or nil when
    /// the source stores it as floats (the default).
    func quantizedLinear(layer: Int, module: LinearModule) throws -> QuantizedTensor?
}

extension CheckpointSource {
    /// Floats only: every linear comes from `floats`.
    public func quantizedLinear(layer: Int, module: LinearModule) throws -> QuantizedTensor? { nil }

    /// Checks that the source holds every tensor of its config with the expected shape, and no
    /// unexpected one.
    public func validate() throws {
        for tensor in LlamaTensor.all(for: config) { _ = try checkedShape(tensor) }
        if let extra = unexpectedTensorNames.first {
            throw LlamaError.unexpectedTensor(name: extra, source: sourceDescription)
        }
    }

    /// The shape of `tensor`, which must be present with the shape the config implies.
    @discardableResult
    public func checkedShape(_ tensor: LlamaTensor) throws -> [Int] {
        let expected = tensor.shape(in: config)
        guard let actual = shape(of: tensor) else {
            throw LlamaError.missingTensor(name: name(of: tensor), source: sourceDescription)
        }
        guard actual == expected else {
            throw LlamaError.shapeMismatch(
                name: name(of: tensor), expected: expected, actual: actual, source: sourceDescription)
        }
        return actual
    }

    /// `tensor` as a constant tensor of its checked shape, every value finite.
    public func tensor(_ tensor: LlamaTensor) throws -> Tensor {
        let shape = try checkedShape(tensor)
        let values = try finiteFloats(tensor)
        guard values.count == shape.product else {
            throw LlamaError.shapeMismatch(
                name: name(of: tensor), expected: shape, actual: [values.count], source: sourceDescription)
        }
        return Tensor(values, shape: shape)
    }

    /// `floats(tensor)`, refused with the tensor's name when a value is NaN or infinite (a damaged
    /// or diverged checkpoint would otherwise surface later as a NaN loss).
    public func finiteFloats(_ tensor: LlamaTensor) throws -> [Float] {
        let values = try floats(tensor)
        if let index = values.firstIndex(where: { !$0.isFinite }) {
            throw LlamaError.nonFiniteWeight(
                name: name(of: tensor), index: index, value: values[index], source: sourceDescription)
        }
        return values
    }
}
