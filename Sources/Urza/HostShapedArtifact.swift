public import Karn
import KernelRuntime

/// Host-shaped artifacts: Tezzeret's compile of a widening or conv-branch template at one host
/// shape, stored under `HostShape.artifactId` (`BP052-i40-o10`). The file is an ordinary
/// checksummed `.esk` with no weights (the kernel code is the built-in C kernel); its metadata
/// `host_shape` object names the template and the shape it was gated at.
public enum HostShapedArtifact {
    /// The metadata key of the `{template_id, family, recipe, inputs, outputs, …}` object.
    public static let metadataKey = "host_shape"
}

extension UrzaLibrary {
    /// The stored artifact of `templateId` at `shape`, read and checked against its recorded
    /// SHA-256 (a mismatch quarantines it: see `artifactFile`), and checked to be the gated
    /// compile of that template at that shape.
    public func hostShapedArtifact(_ templateId: String, shape: HostShape) throws(UrzaError) -> UrzaRecord {
        let id = shape.artifactId(templateId: templateId)
        let (bytes, record) = try artifactFile(id, allowQuarantine: false)
        let artifact: KernelArtifact
        do { artifact = try KernelArtifact.decode(bytes, verifyBody: false) } catch {
            throw UrzaError.integrity(id, "\(error)")
        }
        let described = artifact.metadata[HostShapedArtifact.metadataKey]?.objectValue
        guard artifact.blueprintId == id, described?["template_id"]?.stringValue == templateId,
            described?["inputs"]?.intValue == Int64(shape.inputs), described?["outputs"]?.intValue == Int64(shape.outputs),
            record.validationStatus == "VALIDATED"
        else {
            throw UrzaError.integrity(id, "not a validated compile of \(templateId) at inputs \(shape.inputs), outputs \(shape.outputs)")
        }
        return record
    }
}
