namespace OnnxLm.Cli;

/// <summary>Where the config file lives when <c>--config</c> does not say: <c>$XDG_CONFIG_HOME/onnxlm/onnxlm.json</c>,
/// default <c>~/.config/onnxlm/onnxlm.json</c>, on Linux and macOS alike (one path to document, the one the service
/// installer also looks at). It is read only when present.</summary>
public static class ConfigFile
{
    public static string DefaultPath(string home, string? xdgConfigHome) =>
        Path.Combine(string.IsNullOrEmpty(xdgConfigHome) ? Path.Combine(home, ".config") : xdgConfigHome, "onnxlm", "onnxlm.json");

    /// <summary>The default path for this user.</summary>
    public static string DefaultPath() =>
        DefaultPath(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), Environment.GetEnvironmentVariable("XDG_CONFIG_HOME"));
}
