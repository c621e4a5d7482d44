import Tamiyo

extension Configuration {
    /// Tamiyo's settings from the `TAMIYO_*` / `KASMINA_*` variables, for the server's
    /// controller and an `esper worker`'s alike.
    func tamiyoSettings() -> TamiyoSettings {
        var settings = TamiyoSettings(directory: dataDirectory + "/tamiyo")
        settings.conservativeAtStart = control.conservativeAtStart
        settings.latencyTriggers = control.latencyTriggers
        settings.fieldReportRetentionHours = control.fieldReportRetentionHours
        settings.maxLossSpike = control.maxLossSpike
        settings.memoryLimitBytes = control.memoryLimitMegabytes.map { UInt64($0) << 20 }
        settings.kernelBudgetMs = control.kernelBudgetMs
        return settings
    }
}
