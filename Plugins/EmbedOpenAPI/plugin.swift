// EmbedOpenAPI: embeds openapi/esper.yaml into the module it is applied to (EsperAPI) as the
// string constant `openAPIDocumentText`, rebuilt whenever the document changes. The routes
// are registered from that document, so the document is the one declaration of the API.
import PackagePlugin

@main struct EmbedOpenAPI: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let document = context.package.directoryURL.appending(path: "openapi/esper.yaml")
        let output = context.pluginWorkDirectoryURL.appending(path: "OpenAPIDocumentText.swift")
        return [
            .buildCommand(
                displayName: "Embedding openapi/esper.yaml", executable: try context.tool(named: "EmbedText").url,
                arguments: [document.path(), output.path(), "openAPIDocumentText"], inputFiles: [document], outputFiles: [output])
        ]
    }
}
