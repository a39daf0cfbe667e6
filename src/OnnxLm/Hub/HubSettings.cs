namespace OnnxLm.Hub;

/// <summary>
/// Where the Hub is, who we are on it and where models are kept, from the same variables as <c>huggingface_hub</c>:
/// <c>HF_ENDPOINT</c>, <c>HF_TOKEN</c> (else <c>$HF_HOME/token</c>), <c>HF_HUB_CACHE</c> (else <c>$HF_HOME/hub</c>, else
/// <c>~/.cache/huggingface/hub</c>) and <c>HF_HUB_OFFLINE</c>. Proxies (<c>HTTPS_PROXY</c>/<c>NO_PROXY</c>) are read by
/// .NET's default proxy.
/// </summary>
internal sealed record HubSettings
{
    public required Uri Endpoint { get; init; }
    /// <summary>Sent to <see cref="Endpoint"/>'s host only, never printed.</summary>
    public string? Token { get; init; }
    public required string CacheDirectory { get; init; }
    public bool Offline { get; init; }

    public static HubSettings FromEnvironment(Func<string, string?>? env = null)
    {
        env ??= Environment.GetEnvironmentVariable;
        string? Get(string name) => env(name) is { Length: > 0 } v ? v : null;
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        string hfHome = Get("HF_HOME") ?? Path.Combine(Get("XDG_CACHE_HOME") ?? Path.Combine(home, ".cache"), "huggingface");
        string? token = Get("HF_TOKEN");
        if (token is null)
        {
            string tokenFile = Path.Combine(hfHome, "token");
            try
            {
                if (File.Exists(tokenFile)) token = File.ReadAllText(tokenFile).Trim() is { Length: > 0 } t ? t : null;
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        string endpoint = (Get("HF_ENDPOINT") ?? "https://huggingface.co").TrimEnd('/') + "/";
        return new HubSettings
        {
            Endpoint = new Uri(endpoint, UriKind.Absolute),
            Token = token,
            CacheDirectory = Get("HF_HUB_CACHE") ?? Path.Combine(hfHome, "hub"),
            Offline = IsTrue(Get("HF_HUB_OFFLINE")),
        };
    }

    static bool IsTrue(string? v) => v is not null && v.Trim().ToLowerInvariant() is "1" or "true" or "yes" or "on";
}
