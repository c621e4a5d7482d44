import EsperJSON
public import Leyline

/// Turns bus messages into client events. Only what a watcher of runs needs: epoch results
/// (state packets), seed lifecycle changes and run status (telemetry events of Kasmina and
/// Tolaria), commands, and alert changes (telemetry events Nissa publishes). Everything else
/// on the streams (metric-only telemetry, field reports, …) yields nothing.
public enum BusEventTranslator {
    /// Kasmina's telemetry events that are seed lifecycle changes.
    static let seedEvents: Set<String> = ["seed_transition", "seed_culled", "seed_paused"]

    public static func events(from message: BusMessage, envelope: BusEnvelope? = nil) -> [HubEvent] {
        switch message {
        case .systemState(let packet):
            guard !packet.trainingRunId.isEmpty else { return [] }
            return [epochEvent(packet)]
        case .adaptationCommand(let command):
            return [commandEvent(command)]
        case .telemetry(let packet):
            return telemetryEvents(packet)
        default:
            return []
        }
    }

    static func number(_ value: Double) -> JSONValue { value.isFinite ? .double(value) : .null }
    static func number(_ value: Float) -> JSONValue { number(Double(value)) }

    static func encode(_ type: EventType, runId: String?, _ object: [String: JSONValue]) -> HubEvent {
        // Every value is finite or null and every key a string: serialisation cannot fail.
        let data = (try? JSONValue.object(object).serialized()) ?? Array("{}".utf8)
        return HubEvent(type: type, runId: runId, data: data)
    }

    static func strings(_ map: [String: String]) -> JSONValue { .object(map.mapValues { .string($0) }) }

    static func epochEvent(_ p: SystemStatePacket) -> HubEvent {
        let seeds: [JSONValue] = p.seedStates.map { seed in
            .object(["seed_id": .string(seed.seedId), "stage": .string(seed.stage.name)])
        }
        return encode(
            .epoch, runId: p.trainingRunId,
            [
                "run_id": .string(p.trainingRunId), "epoch": .int(Int64(p.currentEpoch)), "global_step": .int(Int64(p.globalStep)),
                "training_loss": number(p.trainingLoss), "validation_loss": number(p.validationLoss),
                "validation_accuracy": number(p.validationAccuracy),
                "metrics": .object(p.trainingMetrics.mapValues { number($0) }), "seeds": .array(seeds),
                "experiment": .string(p.experimentName),
                "timestamp": .string(LeylineTimestamp(nanosecondsSinceEpoch: Int64(clamping: p.timestampNs)).rfc3339),
            ])
    }

    static func commandEvent(_ c: AdaptationCommand) -> HubEvent {
        let run = c.annotations["run_id"].flatMap { $0.isEmpty ? nil : $0 }
        var object: [String: JSONValue] = [
            "command_id": .string(c.commandId), "command_type": .string(c.commandType.name), "target_seed_id": .string(c.targetSeedId),
            "issued_by": .string(c.issuedBy), "issued_at": .string(c.issuedAt.rfc3339), "annotations": strings(c.annotations),
            "run_id": run.map { .string($0) } ?? .null,
        ]
        if let epoch = c.annotations["epoch"].flatMap({ Int64($0) }) { object["epoch"] = .int(epoch) }
        if case .seedOperation(let operation)? = c.payload {
            object["operation"] = .string(operation.operation.name)
            object["blueprint_id"] = .string(operation.blueprintId)
        }
        return encode(.command, runId: run, object)
    }

    static func telemetryEvents(_ p: TelemetryPacket) -> [HubEvent] {
        var out: [HubEvent] = []
        for event in p.events {
            let run = event.attributes["run_id"].flatMap { $0.isEmpty ? nil : $0 }
            var object: [String: JSONValue] = [
                "kind": .string(event.description), "level": .string(event.level.label),
                "timestamp": .string(p.timestamp.rfc3339), "run_id": run.map { .string($0) } ?? .null,
            ]
            switch p.sourceSubsystem {
            case "kasmina" where seedEvents.contains(event.description):
                var attributes = event.attributes
                attributes["run_id"] = nil
                object["seed_id"] = .string(attributes.removeValue(forKey: "seed_id") ?? "")
                if let epoch = attributes.removeValue(forKey: "epoch").flatMap({ Int64($0) }) { object["epoch"] = .int(epoch) }
                object["attributes"] = strings(attributes)
                out.append(encode(.seed, runId: run, object))
            case "tolaria" where run != nil:
                var attributes = event.attributes
                attributes["run_id"] = nil
                if let epoch = attributes.removeValue(forKey: "epoch").flatMap({ Int64($0) }) { object["epoch"] = .int(epoch) }
                if let status = attributes.removeValue(forKey: "status") { object["status"] = .string(status) }
                object["message"] = .string(attributes.removeValue(forKey: "message") ?? "")
                object["attributes"] = strings(attributes)
                out.append(encode(.run, runId: run, object))
            case "nissa" where event.description.hasPrefix("alert_"):
                var attributes = event.attributes
                object["run_id"] = nil
                object["alert_id"] = .string(attributes.removeValue(forKey: "alert_id") ?? "")
                object["state"] = .string(attributes.removeValue(forKey: "state") ?? "")
                object["attributes"] = strings(attributes)
                out.append(encode(.alert, runId: nil, object))
            default:
                continue
            }
        }
        return out
    }
}
