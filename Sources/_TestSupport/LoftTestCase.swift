import Autograd
import Foundation
import Support
import XCTest

/// The base of every test class: before a class's first test it applies the kernel options the
/// test process's environment asks for (`LOFT_SIMD`, `LOFT_BF16`, `LOFT_NUM_THREADS`,
/// `LOFT_POOL`), as the CLI does at its start — the tests are this program's edge, and the path
/// matrix of `scripts/path-matrix.sh` chooses a path that way. The libraries read no environment.
open class LoftTestCase: XCTestCase {
    override open class func setUp() {
        super.setUp()
        let environment = ProcessInfo.processInfo.environment
        KernelOptions.apply(.parse(environment: environment))
        BLASCoreSwitch.record(environment: environment)
    }
}
