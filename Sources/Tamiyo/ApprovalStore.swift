import EsperJSON
import EsperStorage
import Foundation
import Karn
import Synchronization

import enum Leyline.RFC3339

/// An operator's approval of an approval-required blueprint, for every run (a run can also
/// approve templates for itself with `seeds.approved_blueprints`).
public struct BlueprintApproval: Sendable, Codable, Equatable {
    public var blueprintId: String
    public var reason: String
    /// RFC 3339.
    public var approvedAt: String
}

/// Why an approval was refused.
public enum ApprovalError: Error, Sendable, Equatable {
    case unknownBlueprint
    /// The template does not need an approval (its risk rules are not lifted by one either).
    case notRequired
    case storage(String)
}

/// The operators' approvals (`POST /api/v1/tamiyo/approvals`), kept in
/// `<data>/tamiyo/approvals.json` (written atomically on every change, read at start). Held
/// germinations of an approved blueprint proceed at the run's next plateau: the risk engine
/// asks `isApproved` at every boundary (a memory read).
public final class ApprovalStore: Sendable {
    let path: String
    private let karn: KarnCatalog
    private let approvals: Mutex<[String: BlueprintApproval]>

    /// A file that cannot be read or decoded is reported and treated as empty.
    static func open(path: String, karn: KarnCatalog) -> (store: ApprovalStore, loadError: String?) {
        var loaded: [String: BlueprintApproval] = [:]
        var loadError: String?
        do {
            if let bytes = try AtomicFile.read(path) {
                for approval in try JanssonDecoder().decode([BlueprintApproval].self, from: bytes) {
                    loaded[approval.blueprintId] = approval
                }
            }
        } catch {
            loadError = "\(error)"
        }
        let store = ApprovalStore(path: path, karn: karn, approvals: loaded)
        return (store, loadError)
    }

    private init(path: String, karn: KarnCatalog, approvals: [String: BlueprintApproval]) {
        self.path = path
        self.karn = karn
        self.approvals = Mutex(approvals)
    }

    public var all: [BlueprintApproval] { approvals.withLock { $0.values.sorted { $0.blueprintId < $1.blueprintId } } }

    public func isApproved(_ blueprintId: String) -> Bool { approvals.withLock { $0[blueprintId] != nil } }

    /// Approves an approval-required template; returns the approval and whether it is new.
    public func approve(_ blueprintId: String, reason: String) throws(ApprovalError) -> (approval: BlueprintApproval, created: Bool) {
        guard let template = karn.get(blueprintId) else { throw .unknownBlueprint }
        guard template.approvalRequired else { throw .notRequired }
        let result: Result<(BlueprintApproval, Bool), ApprovalError> = approvals.withLock { map in
            if let existing = map[blueprintId] { return .success((existing, false)) }
            let approval = BlueprintApproval(blueprintId: blueprintId, reason: reason, approvedAt: RFC3339.now())
            var next = map
            next[blueprintId] = approval
            do throws(ApprovalError) {
                try persist(next)
            } catch {
                return .failure(error)
            }
            map = next
            return .success((approval, true))
        }
        return try result.get()
    }

    /// Withdraws an approval; false when there was none. Germinations already made stay.
    public func revoke(_ blueprintId: String) throws(ApprovalError) -> Bool {
        let result: Result<Bool, ApprovalError> = approvals.withLock { map in
            guard map[blueprintId] != nil else { return .success(false) }
            var next = map
            next[blueprintId] = nil
            do throws(ApprovalError) {
                try persist(next)
            } catch {
                return .failure(error)
            }
            map = next
            return .success(true)
        }
        return try result.get()
    }

    private func persist(_ map: [String: BlueprintApproval]) throws(ApprovalError) {
        do {
            let list = map.values.sorted { $0.blueprintId < $1.blueprintId }
            try AtomicFile.write(try JanssonEncoder().encode(list), to: path)
        } catch {
            throw .storage("\(error)")
        }
    }
}
