// Server-Sent Events of a study's progress: subscribers per study, sent an event whenever its progress changes.
import EsperJSON
import Foundation
import Synchronization

/// The subscribers of studies' progress streams. The HTTP layer hands in how to write to a
/// stream and how to end it; the study monitor calls `publish` every round, and a subscriber
/// gets an `event: study` whenever its study's status or progress changed (the first at once),
/// a `: heartbeat` comment every 15 s otherwise, and its stream ends after the event that says
/// the study is completed or stopped. A write that fails (the client left or reads too slowly)
/// forgets the subscriber.
public final class StudyProgressFeed: Sendable {
    public typealias Write = @Sendable ([UInt8]) -> Bool
    public typealias Finish = @Sendable () -> Void

    struct Subscriber: Sendable {
        let studyId: String
        let write: Write
        let finish: Finish
        var last: String?
        var sequence = 0
        var lastWrite = ContinuousClock.now
    }

    /// Streams at once, over all studies.
    public let maxSubscribers: Int
    private let subscribers = Mutex<[UUID: Subscriber]>([:])

    public init(maxSubscribers: Int = 64) { self.maxSubscribers = maxSubscribers }

    public var count: Int { subscribers.withLock { $0.count } }

    /// Adds a subscriber and sends it the current progress; false when the feed is full.
    public func subscribe(studyId: String, current: StudyProgressEvent, write: @escaping Write, finish: @escaping Finish) -> Bool {
        let id = UUID()
        let added = subscribers.withLock { subscribers in
            guard subscribers.count < maxSubscribers else { return false }
            subscribers[id] = Subscriber(studyId: studyId, write: write, finish: finish)
            return true
        }
        if added { send(id, current) }
        return added
    }

    /// One round: each subscriber's study progress (`progress(id)`, nil when the study is gone).
    func publish(_ progress: (String) -> StudyProgressEvent?) {
        let studies = Set(subscribers.withLock { $0.values.map(\.studyId) })
        var events: [String: StudyProgressEvent?] = [:]
        for study in studies { events[study] = progress(study) }
        for id in subscribers.withLock({ Array($0.keys) }) {
            guard let studyId = subscribers.withLock({ $0[id]?.studyId }) else { continue }
            guard let event = events[studyId] ?? nil else {
                drop(id, finish: true)  // the study was deleted
                continue
            }
            send(id, event)
        }
    }

    private func send(_ id: UUID, _ event: StudyProgressEvent) {
        guard let text = try? String(decoding: JanssonEncoder().encode(event), as: UTF8.self) else { return }
        let ending = event.status == "completed" || event.status == "stopped"
        let message: [UInt8]? = subscribers.withLock { subscribers in
            guard var subscriber = subscribers[id] else { return nil }
            let now = ContinuousClock.now
            defer { subscribers[id] = subscriber }
            if subscriber.last == text {
                guard now - subscriber.lastWrite >= .seconds(15) else { return nil }
                subscriber.lastWrite = now
                return Array(": heartbeat\n\n".utf8)
            }
            subscriber.last = text
            subscriber.sequence += 1
            subscriber.lastWrite = now
            return Array("id: \(subscriber.sequence)\nevent: study\ndata: \(text)\n\n".utf8)
        }
        guard let message, let subscriber = subscribers.withLock({ $0[id] }) else { return }
        if !subscriber.write(message) {
            drop(id, finish: false)
        } else if ending {
            drop(id, finish: true)
        }
    }

    private func drop(_ id: UUID, finish: Bool) {
        let removed = subscribers.withLock { $0.removeValue(forKey: id) }
        if finish { removed?.finish() }
    }

    /// Ends every stream (server stop).
    func finishAll() {
        let all = subscribers.withLock { subscribers in
            defer { subscribers = [:] }
            return Array(subscribers.values)
        }
        for subscriber in all { subscriber.finish() }
    }
}
