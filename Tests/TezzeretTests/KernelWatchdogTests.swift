import Foundation
import Testing

@testable import Tezzeret

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct KernelWatchdogTests {
    /// The child must not keep the parent's descriptors: a listening socket it inherited would
    /// keep accepting connections after the server closed it (found as a stopped test server
    /// whose port still took connections while a compile gate's child ran).
    @Test func theChildHoldsNoneOfTheParentsDescriptors() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #expect(listener >= 0)
        defer { close(listener) }
        let file = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/self/stat"))
        let fileDescriptor = file.fileDescriptor
        let outcome = KernelWatchdog.run(deadlineSeconds: 20) { _ in
            // fcntl(F_GETFD) fails with EBADF on a closed descriptor.
            [fcntl(listener, F_GETFD) >= 0, fcntl(fileDescriptor, F_GETFD) >= 0, fcntl(2, F_GETFD) >= 0]
        }
        guard case .finished(let open) = outcome else {
            Issue.record("the child did not answer: \(outcome)")
            return
        }
        #expect(open == [false, false, true])
        // The parent's own descriptors are untouched.
        #expect(fcntl(listener, F_GETFD) >= 0 && fcntl(fileDescriptor, F_GETFD) >= 0)
        try file.close()
    }
}
