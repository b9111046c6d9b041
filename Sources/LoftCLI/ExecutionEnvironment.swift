import Foundation
import Recipes

extension ExecutionOptions {
    /// The options of a command: `compute` from its flag or config, and from the environment
    /// `LOFT_SHARED_INFERENCE=off` (decoding runs each layer on its own, to compare). The one
    /// place these variables are read; the libraries are handed the value.
    static func command(
        compute: ComputeType = .fp32,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> ExecutionOptions {
        ExecutionOptions(compute: compute, sharedInference: environment["LOFT_SHARED_INFERENCE"] != "off")
    }
}
