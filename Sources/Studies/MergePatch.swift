// JSON Merge Patch (RFC 7386): how an arm's overrides change the study's base run config.
public import EsperJSON

public enum MergePatch {
    /// Applies `patch` to `target`: objects merge member by member, `null` deletes a member,
    /// anything else (arrays included) replaces the target.
    public static func apply(_ patch: JSONValue, to target: JSONValue) -> JSONValue {
        guard case .object(let members) = patch else { return patch }
        var result = target.objectValue ?? [:]
        for (key, value) in members {
            if case .null = value {
                result.removeValue(forKey: key)
            } else {
                result[key] = apply(value, to: result[key] ?? .null)
            }
        }
        return .object(result)
    }

    /// Whether the patch sets or deletes the member at `path` or one of its ancestors — so a
    /// problem at `path` of the merged document comes from the patch, not the base.
    public static func touches(_ patch: JSONValue, path: [String]) -> Bool {
        guard let first = path.first, case .object(let members) = patch, let member = members[first] else { return false }
        guard case .object = member, path.count > 1 else { return true }
        return touches(member, path: Array(path.dropFirst()))
    }
}
