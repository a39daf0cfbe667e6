using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;

namespace OnnxLm.Hub;

/// <summary>
/// The Hub's HTTP API as pulls use it. Redirects are followed by hand so the token goes to the Hub's own host and
/// never to a CDN; 429 and 5xx answers and broken connections are retried (honouring <c>Retry-After</c>, else with
/// doubling back-off); 401/403/404 become a <see cref="HubException"/> told apart by <c>X-Error-Code</c>.
/// </summary>
internal sealed class HubApi : IDisposable
{
    readonly HttpClient http;
    readonly HubSettings settings;
    readonly HubTransferOptions transfer;

    public HubApi(HubSettings settings, HubTransferOptions transfer)
    {
        this.settings = settings;
        this.transfer = transfer;
        http = new HttpClient(new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = transfer.StallTimeout,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
        })
        { Timeout = Timeout.InfiniteTimeSpan };
        http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("onnxlm", Program.Version));
    }

    public HubSettings Settings => settings;

    public Uri ResolveUrl(HubModelRef r, string commit, string path) =>
        new(settings.Endpoint, $"{r.Repo}/resolve/{commit}/{EscapePath(path)}");

    static string EscapePath(string path) => string.Join('/', path.Split('/').Select(Uri.EscapeDataString));

    /// <summary>The commit the reference's revision names now.</summary>
    public async Task<string> ResolveCommitAsync(HubModelRef r, CancellationToken ct)
    {
        var url = new Uri(settings.Endpoint, $"api/models/{r.Repo}/revision/{Uri.EscapeDataString(r.Revision)}");
        using var response = await SendAsync(HttpMethod.Get, url, null, r, null, ct);
        await using var body = await response.Content.ReadAsStreamAsync(ct);
        var info = await JsonSerializer.DeserializeAsync(body, HubJsonContext.Default.HubRevisionInfo, ct);
        return info?.Sha is { } sha && HubModelRef.IsCommitHash(sha) ? sha
            : throw new HubException($"the Hub's answer for {r.Repo}@{r.Revision} holds no commit hash");
    }

    /// <summary>Every file under <paramref name="path"/> at <paramref name="commit"/> (recursive), following
    /// <c>Link: &lt;…&gt;; rel="next"</c> pages.</summary>
    public async Task<List<HubTreeEntry>> ListFilesAsync(HubModelRef r, string commit, string? path, CancellationToken ct)
    {
        var files = new List<HubTreeEntry>();
        Uri? url = new(settings.Endpoint, $"api/models/{r.Repo}/tree/{commit}" + (path is null ? "" : "/" + EscapePath(path)) + "?recursive=true");
        int pages = 0;
        while (url is not null)
        {
            if (++pages > 10_000) throw new HubException($"the Hub's tree listing of {r.Repo} does not end");
            using var response = await SendAsync(HttpMethod.Get, url, null, r, path, ct);
            await using (var body = await response.Content.ReadAsStreamAsync(ct))
            {
                var page = await JsonSerializer.DeserializeAsync(body, HubJsonContext.Default.ListHubTreeEntry, ct) ?? [];
                files.AddRange(page.Where(e => e.Type == "file"));
            }
            url = NextPage(response, url);
        }
        return files;
    }

    static Uri? NextPage(HttpResponseMessage response, Uri current)
    {
        if (!response.Headers.TryGetValues("Link", out var values)) return null;
        foreach (string header in values)
            foreach (string part in header.Split(','))
            {
                int open = part.IndexOf('<'), close = part.IndexOf('>');
                if (open < 0 || close < open) continue;
                if (part[(close + 1)..].Replace(" ", "", StringComparison.Ordinal).Contains("rel=\"next\"", StringComparison.OrdinalIgnoreCase))
                    return new Uri(current, part[(open + 1)..close]);
            }
        return null;
    }

    /// <summary>Whether the token may be sent to <paramref name="url"/>: only to the Hub endpoint's own scheme, host and port.</summary>
    public bool IsHubHost(Uri url) =>
        Uri.Compare(url, settings.Endpoint, UriComponents.SchemeAndServer, UriFormat.Unescaped, StringComparison.OrdinalIgnoreCase) == 0;

    /// <summary>
    /// Sends one request, following redirects by hand (the token only to the Hub's host), retrying 429/5xx, connection
    /// failures and silent servers. Without <paramref name="followRedirects"/> only redirects within the Hub (a renamed
    /// repository) are followed, and a redirect elsewhere (the CDN) is returned as it is, headers read. An error answer
    /// throws a <see cref="HubException"/>.
    /// </summary>
    public async Task<HttpResponseMessage> SendAsync(HttpMethod method, Uri url, Action<HttpRequestMessage>? configure,
        HubModelRef r, string? file, CancellationToken ct, bool followRedirects = true)
    {
        int attempt = 0;
        while (true)
        {
            HttpResponseMessage response;
            Uri current = url;
            int redirects = 0;
            try
            {
                while (true)
                {
                    var request = new HttpRequestMessage(method, current);
                    if (settings.Token is { } token && IsHubHost(current))
                        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
                    configure?.Invoke(request);
                    // A server that accepts the connection but never answers counts as a stall too.
                    using (var headers = CancellationTokenSource.CreateLinkedTokenSource(ct))
                    {
                        headers.CancelAfter(transfer.StallTimeout);
                        try
                        {
                            response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, headers.Token);
                        }
                        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
                        {
                            throw new HttpRequestException($"no answer within {transfer.StallTimeout.TotalSeconds:0.#} s", e);
                        }
                    }
                    int code = (int)response.StatusCode;
                    if (code is >= 300 and < 400 && response.Headers.Location is { } location
                        && (followRedirects || IsHubHost(new Uri(current, location))))
                    {
                        response.Dispose();
                        if (++redirects > 10) throw new HubException($"too many redirects from {url}");
                        current = new Uri(current, location);
                        continue;
                    }
                    break;
                }
            }
            catch (HttpRequestException e) when (!ct.IsCancellationRequested && attempt < transfer.MaxAttempts - 1)
            {
                await BackOffAsync(++attempt, null, $"{Describe(current)}: {e.Message}", ct);
                continue;
            }
            catch (HttpRequestException e)
            {
                throw new HubException($"cannot reach {current.GetLeftPart(UriPartial.Authority)}: {e.Message}", 2, e);
            }
            int status = (int)response.StatusCode;
            if (status < 400) return response;
            if ((status == 429 || status >= 500) && attempt < transfer.MaxAttempts - 1)
            {
                var retryAfter = RetryAfter(response);
                response.Dispose();
                await BackOffAsync(++attempt, retryAfter, $"{Describe(current)}: HTTP {status}", ct);
                continue;
            }
            using (response) throw Error(response, r, file);
        }
    }

    static string Describe(Uri url) => url.AbsolutePath;

    async Task BackOffAsync(int attempt, TimeSpan? retryAfter, string reason, CancellationToken ct)
    {
        var delay = retryAfter ?? TimeSpan.FromTicks(Math.Min(transfer.MaxBackoff.Ticks, transfer.FirstBackoff.Ticks << Math.Min(attempt - 1, 20)));
        if (delay > transfer.MaxRetryAfter) delay = transfer.MaxRetryAfter;
        transfer.Note?.Invoke($"{reason}; retrying in {delay.TotalSeconds:0.#} s (attempt {attempt + 1} of {transfer.MaxAttempts})");
        await Task.Delay(delay, ct);
    }

    public async Task BackOffAfterFailureAsync(int attempt, string reason, CancellationToken ct) => await BackOffAsync(attempt, null, reason, ct);

    static TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var h = response.Headers.RetryAfter;
        if (h?.Delta is { } d) return d;
        if (h?.Date is { } date) return date - DateTimeOffset.UtcNow is { Ticks: > 0 } left ? left : TimeSpan.Zero;
        return null;
    }

    HubException Error(HttpResponseMessage response, HubModelRef r, string? file)
    {
        string code = response.Headers.TryGetValues("X-Error-Code", out var codes) ? codes.FirstOrDefault() ?? "" : "";
        string hubMessage = response.Headers.TryGetValues("X-Error-Message", out var messages) ? messages.FirstOrDefault() ?? "" : "";
        int status = (int)response.StatusCode;
        string repoUrl = new Uri(settings.Endpoint, r.Repo).ToString();
        return code switch
        {
            "GatedRepo" => new HubException(settings.Token is null
                ? $"{r.Repo} is gated: accept the licence at {repoUrl}, then set HF_TOKEN (or put a token in $HF_HOME/token)"
                : $"{r.Repo} is gated and this token has no access yet: accept the licence at {repoUrl} with the token's account"),
            "RepoNotFound" => new HubException(settings.Token is null
                ? $"repository {r.Repo} not found on {settings.Endpoint} (if it is private, set HF_TOKEN)"
                : $"repository {r.Repo} not found on {settings.Endpoint}, or the token cannot see it"),
            "RevisionNotFound" => new HubException($"revision '{r.Revision}' not found in {r.Repo}"),
            "EntryNotFound" => new HubException($"'{file}' not found in {r.Repo}@{r.Revision}"),
            _ when status == 401 && settings.Token is not null => new HubException(
                $"the Hub refused the token (HF_TOKEN or $HF_HOME/token): {(hubMessage.Length > 0 ? hubMessage : "invalid or expired")}"),
            _ when status == 401 => new HubException($"repository {r.Repo} needs authentication: set HF_TOKEN"),
            _ when status == 404 => new HubException($"not found on the Hub: {response.RequestMessage?.RequestUri?.AbsolutePath}"),
            _ => new HubException($"the Hub answered HTTP {status} for {response.RequestMessage?.RequestUri?.AbsolutePath}" +
                (hubMessage.Length > 0 ? $": {hubMessage}" : "")),
        };
    }

    public void Dispose() => http.Dispose();
}
