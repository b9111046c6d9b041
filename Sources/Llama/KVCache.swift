/// Keys and values of the positions a sequence has seen, per layer: [capacity, Hkv·Dh] each.
public final class KVCache {
    /// The most positions it holds.
    public let capacity: Int
    /// The positions filled so far (the position of the next token).
    public internal(set) var length = 0
    var keys: [[Float]], values: [[Float]]

    /// An empty cache for `config` and up to `capacity` positions.
    public init(config: LlamaConfig, capacity: Int) {
        self.capacity = capacity
        keys = Array(repeating: [Float](repeating: 0, count: capacity * config.kvDim), count: config.layers)
        values = keys
    }

    /// Forgets every position.
    public func reset() { length = 0 }

    /// Stores `count` rows of keys and values [count, Hkv·Dh] of `layer` at `position...`.
    func store(
        layer: Int, position: Int, count: Int, width: Int,
        keys newKeys: ArraySlice<Float>, values newValues: ArraySlice<Float>
    ) {
        let range = (position * width)..<((position + count) * width)
        keys[layer].replaceSubrange(range, with: newKeys)
        values[layer].replaceSubrange(range, with: newValues)
    }
}
