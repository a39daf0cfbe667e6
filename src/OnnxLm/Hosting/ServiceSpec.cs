namespace OnnxLm.Hosting;

/// <summary>Everything a service file depends on; all paths absolute.</summary>
/// <param name="BinaryPath">The onnxlm executable the service runs.</param>
/// <param name="ConfigPath">Passed as <c>serve --config FILE</c>; null runs <c>serve</c> with defaults.</param>
/// <param name="HomeDirectory">The installing user's home (user-scope paths live under it).</param>
/// <param name="RunAsUser">System scope only: the account to run as (systemd <c>User=</c>, launchd <c>UserName</c>).
/// Null: a systemd <c>DynamicUser</c>; launchd runs daemons as root.</param>
/// <param name="HubCache">Set when the config's model is a Hub repository (pulled at install time): the service serves
/// it offline from this Hugging Face cache (<c>HF_HUB_CACHE</c>, <c>HF_HUB_OFFLINE=1</c>, <c>serve --offline</c>), so
/// the hardened unit never writes to it.</param>
public sealed record ServiceSpec(string BinaryPath, string? ConfigPath, ServiceScope Scope, string HomeDirectory, string? RunAsUser = null,
    string? HubCache = null);
