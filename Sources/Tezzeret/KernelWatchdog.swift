import EsperJSON
import Foundation
import Kernels

#if canImport(Glibc)
    import Glibc
#endif

/// Runs untrusted kernel calls (the autotuner's and the validation gates') under a deadline
/// enforced from outside the call: the work runs in a forked child process that sends its
/// answer back through a pipe; a child that has not answered by the deadline is killed
/// (SIGKILL). A kernel that spins forever, deadlocks, or crashes the process therefore ends
/// the child, never the compiler: the worker slot is freed and the verdict says why.
///
/// The child inherits only the forking thread. The fork skips the atfork handlers
/// (`ck_watchdog_fork`): OpenBLAS's would shut its thread pool down under any GEMM another
/// thread of the parent is running (a training run, another compile), hanging that GEMM for
/// good; the child runs OpenBLAS single-threaded instead. The remaining risk — another thread
/// holding a lock (malloc's, the Swift runtime's) at the instant of the fork — shows up as a
/// child that neither answers nor uses CPU. Such a child is killed after `stallSeconds` without CPU
/// progress and reported as `stalled`, which the caller retries (a kernel that is blocked
/// for good — a real deadlock — stalls every time and is then judged like a hang). The child
/// is killed with the thread that forked it (`PR_SET_PDEATHSIG` in `ck_watchdog_fork`), so a
/// server killed mid-compile (kill -9, the OOM killer) leaves no child behind: a stalled one
/// used to run on for good, every signal but SIGKILL blocked.
enum KernelWatchdog {
    enum Outcome<Value> {
        case finished(Value)
        /// No answer by the deadline: the child was killed.
        case timedOut(seconds: Double, cpuSeconds: Double)
        /// The child died or answered garbage (a crashing kernel).
        case crashed(String)
        /// The child used no CPU for `stallSeconds`: blocked (a deadlock, or a lock inherited
        /// from another thread at the fork).
        case stalled(seconds: Double)
    }

    /// - Parameters:
    ///   - deadlineSeconds: wall-clock limit for the whole answer.
    ///   - cpuLimitSeconds: CPU time the child may use between two heartbeats (checked every
    ///     100 ms): the body calls its `heartbeat` after every step (a gate, an autotune
    ///     candidate), so a kernel call that spins is stopped after this much work however long
    ///     a loaded machine takes to do it, while a healthy compile waiting for a CPU is not.
    static func run<Value: Codable>(
        deadlineSeconds: Double, cpuLimitSeconds: Double = .infinity, stallSeconds: Double = 3,
        _ body: (_ heartbeat: @escaping () -> Void) -> Value
    ) -> Outcome<Value> {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return .crashed("pipe: \(String(cString: strerror(errno)))") }
        // Close-on-exec, so a process another thread spawns meanwhile does not hold the pipe open.
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let started = Autotuner.monotonic()
        let pid = pid_t(Kernels.watchdogFork(keeping: fds[1]))
        if pid < 0 {
            close(fds[0])
            close(fds[1])
            return .crashed("fork: \(String(cString: strerror(errno)))")
        }
        if pid == 0 {
            // No OpenBLAS worker threads in the child (its pool belongs to the parent).
            Kernels.blasThreads = 1
            close(fds[0])
            let pipe = fds[1]
            let bytes =
                (try? JanssonEncoder().encode(
                    body {
                        var beat = KernelWatchdog.heartbeat
                        _ = write(pipe, &beat, 1)
                    })) ?? []
            var offset = 0
            while offset < bytes.count {
                let n = bytes[offset...].withUnsafeBytes { write(fds[1], $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { _exit(2) }
                offset += n
            }
            _exit(bytes.isEmpty ? 3 : 0)
        }
        close(fds[1])
        defer { close(fds[0]) }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        var timedOut = false, stalled = false
        var lastCPU = -1.0, lastProgress = started, cpuAtHeartbeat = 0.0
        while true {
            let now = Autotuner.monotonic()
            let remaining = started + deadlineSeconds - now
            let cpu = childCPUSeconds(pid)
            if cpu > lastCPU {
                lastCPU = cpu
                lastProgress = now
            }
            if remaining <= 0 || cpu - cpuAtHeartbeat > cpuLimitSeconds {
                timedOut = true
                break
            }
            if now - lastProgress > stallSeconds {
                stalled = true
                break
            }
            var poller = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(min(remaining * 1000 + 1, 100)))
            if ready < 0 && errno == EINTR { continue }
            if ready <= 0 { continue }
            let n = buffer.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }  // EOF: the child finished writing (or died)
            let chunk = buffer[0..<n]
            if chunk.contains(KernelWatchdog.heartbeat) {
                cpuAtHeartbeat = childCPUSeconds(pid)
                answer += chunk.filter { $0 != KernelWatchdog.heartbeat }
            } else {
                answer += chunk
            }
        }
        if timedOut || stalled { kill(pid, SIGKILL) }
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
        let cpu =
            Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec)
            + Double(usage.ru_stime.tv_usec) / 1e6
        if timedOut { return .timedOut(seconds: Autotuner.monotonic() - started, cpuSeconds: cpu) }
        if stalled { return .stalled(seconds: Autotuner.monotonic() - started) }
        // WIFSIGNALED / WEXITSTATUS spelled out (the C macros are not imported).
        let signal = status & 0x7F
        if signal != 0 { return .crashed("the kernel's process died of signal \(signal)") }
        let exitCode = (status >> 8) & 0xFF
        guard exitCode == 0, let value = try? JanssonDecoder().decode(Value.self, from: answer) else {
            return .crashed("the kernel's process exited with status \(exitCode) without an answer")
        }
        return .finished(value)
    }

    /// A byte JSON text never contains (a control character outside strings is invalid, and
    /// the encoder escapes it inside them).
    static let heartbeat: UInt8 = 0x01

    /// utime + stime of a running child, from /proc/<pid>/stat (0 if unreadable).
    static func childCPUSeconds(_ pid: pid_t) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return 0 }
        // Fields after the command name: state is field 3, utime 14, stime 15.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}
