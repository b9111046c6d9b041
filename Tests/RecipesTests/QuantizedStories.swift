import Foundation
import Recipes
import XCTest
import _TestSupport

extension XCTestCase {
    /// A `loft quantize` folder of stories260K (NF4, rank 4, alpha 8, one LoftQ step) in this
    /// test's temporary directory.
    func quantizedStories() throws -> URL {
        let folder = try Fixtures.temporaryDirectory(self).appendingPathComponent("q")
        let options = try LoftQuantizer.Options(
            bits: 4, method: .nf, blockSize: 64, doubleQuant: false, rank: 4, alpha: 8,
            iterations: 1, initialization: .loftq, svd: "auto", seed: 0)
        _ = try LoftQuantizer.quantize(
            model: try Fixtures.data("models/stories260K/stories260K.bin"),
            tokenizer: try Fixtures.data("models/stories260K/tok512.model"), options: options, output: folder)
        return folder
    }
}
