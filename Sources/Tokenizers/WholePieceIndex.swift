/// Pieces matched whole in the input before anything else (special and user-defined tokens),
/// found through their first unit and tried longest first: a lookup per position costs the
/// pieces that start with that unit, not the whole list (DeepSeek's vocabulary has 2,398).
struct WholePieceIndex<Unit: Hashable>: Sendable where Unit: Sendable {
    private let byFirst: [Unit: [(units: [Unit], id: Int32)]]

    /// The index of `pieces` (empty ones are left out).
    init(_ pieces: [(units: [Unit], id: Int32)]) {
        let sorted = pieces.filter { !$0.units.isEmpty }.sorted { $0.units.count > $1.units.count }
        byFirst = Dictionary(grouping: sorted) { $0.units[0] }
    }

    /// The longest piece starting at `i` of `units`, with its length, if any.
    func match(at i: Int, in units: [Unit]) -> (id: Int32, length: Int)? {
        guard let candidates = byFirst[units[i]] else { return nil }
        for (piece, id) in candidates where piece.count <= units.count - i {
            if units[i..<(i + piece.count)].elementsEqual(piece) { return (id, piece.count) }
        }
        return nil
    }
}
