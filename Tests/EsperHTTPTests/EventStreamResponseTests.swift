import EsperTestSupport
import Foundation
import Logging
import Synchronization
import Testing

@testable import EsperHTTP

/// Streaming responses on the real libmicrohttpd daemon: bytes written while the connection
/// is suspended reach the client, an overflowing stream is dropped, and stopping the server
/// ends open streams with a proper end of the chunked body.
@Suite(.serialized) struct EventStreamResponseTests {
    /// The streams the route handed out, for the test to write into.
    final class Streams: Sendable {
        let list = Mutex<[EventStream]>([])
    }

    final class StreamServer {
        let server: HTTPServer
        let streams = Streams()
        var port: UInt16 { server.port }

        init() throws {
            var configuration = HTTPServerConfiguration()
            configuration.port = 0
            configuration.accessLog = false
            var router = Router()
            let streams = self.streams
            router.add("GET", "/stream") { _ in
                let stream = EventStream(capacity: 4096)
                streams.list.withLock { $0.append(stream) }
                return .eventStream(stream)
            }
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            server = HTTPServer(configuration: configuration, router: router, logger: logger, metrics: nil)
            try server.start()
        }

        deinit { server.stop(grace: .seconds(1)) }

        var latest: EventStream? { streams.list.withLock { $0.last } }
    }

    @Test func bytesWrittenWhileSuspendedReachTheClient() throws {
        let server = try StreamServer()
        let client = try SSEClient(port: server.port, path: "/stream")
        #expect(client.status == 200)
        #expect(client.headers["content-type"] == "text/event-stream; charset=utf-8")
        let stream = try #require(server.latest)
        // Each write finds the connection suspended on an empty buffer and resumes it.
        for index in 0..<3 {
            #expect(stream.write(Array("id: \(index)\nevent: tick\ndata: {\"n\":\(index)}\n\n".utf8)))
            let message = try #require(client.next())
            #expect(message.event == "tick")
            #expect(message.id == "\(index)")
        }
        // The client leaves; the stream notices once the next write wakes the connection.
        client.disconnect()
        #expect(eventually(within: 10) { !stream.write(Array(": ping\n\n".utf8)) })
        #expect(eventually(within: 10) { server.server.openStreamCount == 0 })
    }

    @Test func aWriteBeyondTheCapacityDropsTheStream() {
        let stream = EventStream(capacity: 4096)
        #expect(stream.write([UInt8](repeating: 65, count: 3000)))
        #expect(stream.bufferedBytes == 3000)
        #expect(!stream.write([UInt8](repeating: 66, count: 2000)))
        #expect(stream.wasDropped)
        #expect(stream.bufferedBytes == 0)  // freed at once
        #expect(!stream.write([1]))
    }

    @Test func stoppingTheServerEndsOpenStreamsCleanly() throws {
        let server = try StreamServer()
        let client = try SSEClient(port: server.port, path: "/stream")
        let stream = try #require(server.latest)
        #expect(stream.write(Array("data: last\n\n".utf8)))
        #expect(client.next()?.data == "last")
        server.server.stop(grace: .seconds(10))
        _ = client.drain(seconds: 10)
        #expect(client.ended)  // the terminating zero-length chunk, not a cut connection
        #expect(!stream.isOpen)
    }
}
