import Nissa
import Testing

/// The Alertmanager identities Esper writes into its webhooks must be the ones Alertmanager
/// itself computes (the live comparison is clients/python/tests/test_alertmanager.py).
@Suite struct AlertmanagerPayloadTests {
    /// prometheus/common model/signature_test.go: LabelsToSignature and labelSetToFingerprint.
    @Test func fingerprintMatchesPrometheusCommonsVectors() {
        #expect(AlertmanagerPayload.fingerprint([:]) == "cbf29ce484222325")  // 14695981039346656037
        #expect(
            AlertmanagerPayload.fingerprint(["name": "garland, briggs", "fear": "love is not enough"])
                == "507a62d79ee76c9a")  // 5799056148416392346
    }

    @Test func fingerprintSortsNamesBytewiseAndSeparatesEveryString() {
        // Moving a character from a name to its value changes the hash (the 0xff separators).
        #expect(AlertmanagerPayload.fingerprint(["ab": "c"]) != AlertmanagerPayload.fingerprint(["a": "bc"]))
        // Upper-case sorts before lower-case, as Go's sort.Strings orders bytes.
        let labels = ["b": "1", "B": "2", "a": "3"]
        #expect(AlertmanagerPayload.fingerprint(labels) == AlertmanagerPayload.fingerprint(labels.merging([:]) { $1 }))
        #expect(AlertmanagerPayload.fingerprint(labels).count == 16)
    }

    @Test func groupKeyIsWrittenAsAlertmanagerWritesIt() {
        #expect(
            AlertmanagerPayload.groupKey(["source": "tolaria", "alertname": "training_latency_high"])
                == #"{}:{alertname="training_latency_high", source="tolaria"}"#)
        #expect(AlertmanagerPayload.groupKey(["alertname": "a\"b\\c\nd"]) == #"{}:{alertname="a\"b\\c\nd"}"#)
        #expect(AlertmanagerPayload.groupKey([:], routeKey: "{}/{severity=\"critical\"}") == #"{}/{severity="critical"}:{}"#)
    }
}
