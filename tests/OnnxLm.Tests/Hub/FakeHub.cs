using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace OnnxLm.Tests.Hub;

/// <summary>One file of a fake repository; LFS files are served through the CDN by sha256.</summary>
public sealed class FakeFile(string path, string source, bool lfs)
{
    public string Path { get; } = path;
    /// <summary>The bytes live on disk (test models, 1 GB benchmark files) and are streamed from there.</summary>
    public string Source { get; } = source;
    public bool Lfs { get; } = lfs;
    public long Size { get; } = new FileInfo(source).Length;
    public string Sha256 { get; } = HashFile(source, SHA256.Create(), "");
    public string GitOid { get; } = HashFile(source, SHA1.Create(), $"blob {new FileInfo(source).Length}\0");

    static string HashFile(string path, HashAlgorithm h, string prefix)
    {
        using (h)
        {
            using var stream = File.OpenRead(path);
            byte[] head = Encoding.ASCII.GetBytes(prefix);
            h.TransformBlock(head, 0, head.Length, null, 0);
            byte[] buffer = new byte[1 << 20];
            int n;
            while ((n = stream.Read(buffer)) > 0) h.TransformBlock(buffer, 0, n, null, 0);
            h.TransformFinalBlock([], 0, 0);
            return Convert.ToHexStringLower(h.Hash!);
        }
    }
}

/// <summary>A repository of the fake hub: files at one commit, revisions naming it.</summary>
public sealed class FakeRepo(string id)
{
    public string Id { get; } = id;
    public string Commit { get; } = Convert.ToHexStringLower(SHA1.HashData(Encoding.UTF8.GetBytes(id + Guid.NewGuid())));
    public Dictionary<string, FakeFile> Files { get; } = new(StringComparer.Ordinal);
    public bool Gated { get; set; }
    public bool Private { get; set; }

    /// <summary>Adds every file of <paramref name="folder"/> under <paramref name="prefix"/> (.onnx and .data files as LFS).</summary>
    public FakeRepo AddFolder(string prefix, string folder)
    {
        foreach (string f in Directory.EnumerateFiles(folder))
        {
            string name = System.IO.Path.GetFileName(f);
            string path = prefix.Length == 0 ? name : prefix + "/" + name;
            Files[path] = new FakeFile(path, f, name.EndsWith(".onnx", StringComparison.Ordinal) || name.EndsWith(".data", StringComparison.Ordinal));
        }
        return this;
    }

    public FakeRepo AddFile(string path, string source, bool lfs)
    {
        Files[path] = new FakeFile(path, source, lfs);
        return this;
    }
}

/// <summary>A request the fake hub or CDN saw.</summary>
public sealed record FakeRequest(string Server, string Method, string Path, string? Range, string? Authorization)
{
    public DateTime At { get; } = DateTime.UtcNow;
}

/// <summary>
/// The Hugging Face Hub's HTTP API as pulls use it, on Kestrel at 127.0.0.1: <c>/api/models/{repo}/revision/{rev}</c>,
/// <c>/api/models/{repo}/tree/{rev}/{path}?recursive=true</c> (pages of <see cref="PageSize"/> entries joined by
/// <c>Link: &lt;…&gt;; rel="next"</c>), <c>/{repo}/resolve/{rev}/{path}</c> (small files served with their git oid as
/// ETag; LFS files answered 302 to the CDN with <c>X-Linked-Etag</c>/<c>X-Linked-Size</c>), errors with
/// <c>X-Error-Code</c>. A second listener is the CDN: it serves LFS bytes by sha256 with <c>Range</c>, and records
/// <see cref="CdnSawToken"/> (and answers 400) if the token ever reaches it. Fault switches fire once and heal.
/// </summary>
public sealed class FakeHub : IAsyncDisposable
{
    public const string Token = "hf_fake_secret_token_123";

    readonly WebApplication hub;
    readonly WebApplication cdn;
    readonly ConcurrentQueue<FakeRequest> requests = new();

    public Dictionary<string, FakeRepo> Repos { get; } = new(StringComparer.Ordinal);
    /// <summary>Old repository id → new one (answered with 307).</summary>
    public Dictionary<string, string> Renamed { get; } = new(StringComparer.Ordinal);
    public Uri Endpoint { get; private set; } = null!;
    public Uri CdnEndpoint { get; private set; } = null!;
    public int PageSize { get; set; } = 1000;
    public volatile bool CdnSawToken;

    // Fault switches: each fires on the next LFS transfer from the CDN, then heals.
    public long CutAfterBytes = -1;
    /// <summary>When the last cut happened (for the recovery benchmark).</summary>
    public DateTime CutAt { get; private set; }
    public long StallAfterBytes = -1;
    public int IgnoreRangeOnce;
    public int FlipByteOnce;
    public int TooManyRequestsOnce;
    public int ServerErrorOnce;
    /// <summary>Bytes per second per CDN transfer; 0 = unlimited.</summary>
    public long ThrottleBytesPerSecond;
    /// <summary>Completes when a CDN transfer has sent this many bytes and holds it there (for the killed-process test).</summary>
    public long HoldAfterBytes = -1;
    public TaskCompletionSource Held { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public TaskCompletionSource ReleaseHold { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public IReadOnlyList<FakeRequest> Requests => requests.ToArray();

    /// <summary>GET requests that carried file bytes (resolve of small files, CDN).</summary>
    public IEnumerable<FakeRequest> Downloads => Requests.Where(r => r.Method == "GET" && (r.Server == "cdn" || r.Path.Contains("/resolve/", StringComparison.Ordinal)));

    FakeHub()
    {
        hub = Build();
        cdn = Build();
        hub.Run(ServeHub);
        cdn.Run(ServeCdn);
    }

    static WebApplication Build()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.WebHost.ConfigureKestrel(k => k.Limits.MinResponseDataRate = null);
        return builder.Build();
    }

    public static async Task<FakeHub> StartAsync()
    {
        var fake = new FakeHub();
        await fake.hub.StartAsync();
        await fake.cdn.StartAsync();
        fake.Endpoint = new Uri(fake.hub.Urls.First() + "/");
        fake.CdnEndpoint = new Uri(fake.cdn.Urls.First() + "/");
        return fake;
    }

    public FakeRepo Add(FakeRepo repo)
    {
        Repos[repo.Id] = repo;
        return repo;
    }

    static bool Once(ref int flag) => Interlocked.Exchange(ref flag, 0) == 1;
    static bool Once(ref long flag, out long value) => (value = Interlocked.Exchange(ref flag, -1)) >= 0;

    static Task Error(HttpContext ctx, int status, string code, string message)
    {
        ctx.Response.StatusCode = status;
        if (code.Length > 0) ctx.Response.Headers["X-Error-Code"] = code;
        ctx.Response.Headers["X-Error-Message"] = message;
        return ctx.Response.WriteAsync(JsonSerializer.Serialize(new Dictionary<string, string> { ["error"] = message }));
    }

    bool Authorized(HttpContext ctx) => ctx.Request.Headers.Authorization.ToString() == "Bearer " + Token;

    async Task ServeHub(HttpContext ctx)
    {
        string path = Uri.UnescapeDataString(ctx.Request.Path.Value ?? "");
        requests.Enqueue(new FakeRequest("hub", ctx.Request.Method, path + ctx.Request.QueryString, ctx.Request.Headers.Range.ToString() is { Length: > 0 } r ? r : null,
            ctx.Request.Headers.Authorization.ToString() is { Length: > 0 } a ? a : null));
        var parts = path.TrimStart('/').Split('/');
        bool api = parts.Length >= 5 && parts[0] == "api" && parts[1] == "models";
        string repoId = api ? parts[2] + "/" + parts[3] : parts.Length >= 2 ? parts[0] + "/" + parts[1] : "";
        if (Renamed.TryGetValue(repoId, out string? newId))
        {
            // A renamed repository: the Hub answers with a relative redirect to the new name.
            ctx.Response.StatusCode = 307;
            ctx.Response.Headers.Location = (ctx.Request.Path.Value ?? "").Replace("/" + repoId + "/", "/" + newId + "/", StringComparison.Ordinal) + ctx.Request.QueryString;
            return;
        }
        if (!Repos.TryGetValue(repoId, out var repo) || (repo.Private && !Authorized(ctx)))
        {
            // Like the Hub: without a token a missing (or private) repository is a 401, with one a 404.
            await Error(ctx, ctx.Request.Headers.Authorization.Count == 0 ? 401 : 404, "RepoNotFound", "Repository not found");
            return;
        }
        if (ctx.Request.Headers.Authorization.Count > 0 && !Authorized(ctx))
        {
            await Error(ctx, 401, "", "Invalid credentials in Authorization header");
            return;
        }
        if (api && parts[4] == "revision" && parts.Length == 6)
        {
            if (!Resolve(repo, parts[5], out string commit)) { await Error(ctx, 404, "RevisionNotFound", "Invalid rev id: " + parts[5]); return; }
            await ctx.Response.WriteAsync($"{{\"id\":\"{repo.Id}\",\"sha\":\"{commit}\",\"private\":false,\"gated\":{(repo.Gated ? "\"manual\"" : "false")}}}");
            return;
        }
        if (api && parts[4] == "tree" && parts.Length >= 6)
        {
            if (!Resolve(repo, parts[5], out _)) { await Error(ctx, 404, "RevisionNotFound", "Invalid rev id: " + parts[5]); return; }
            string prefix = string.Join('/', parts.Skip(6));
            var entries = repo.Files.Values.Where(f => prefix.Length == 0 || f.Path.StartsWith(prefix + "/", StringComparison.Ordinal))
                .OrderBy(f => f.Path, StringComparer.Ordinal).ToList();
            if (prefix.Length > 0 && entries.Count == 0) { await Error(ctx, 404, "EntryNotFound", $"{prefix} does not exist on \"{parts[5]}\""); return; }
            int start = int.TryParse(ctx.Request.Query["cursor"], out int c) ? c : 0;
            var page = entries.Skip(start).Take(PageSize).ToList();
            if (start + PageSize < entries.Count)
                ctx.Response.Headers["Link"] = $"<{Endpoint}api/models/{repo.Id}/tree/{parts[5]}{(prefix.Length > 0 ? "/" + prefix : "")}?recursive=true&cursor={start + PageSize}>; rel=\"next\"";
            var json = new StringBuilder("[");
            foreach (var f in page)
            {
                if (json.Length > 1) json.Append(',');
                json.Append($"{{\"type\":\"file\",\"oid\":\"{f.GitOid}\",\"size\":{(f.Lfs ? 134 : f.Size)},\"path\":\"{f.Path}\"");
                if (f.Lfs) json.Append($",\"lfs\":{{\"oid\":\"{f.Sha256}\",\"size\":{f.Size},\"pointerSize\":134}}");
                json.Append('}');
            }
            // Directories are listed too; a client must skip them.
            if (start == 0) json.Append(json.Length > 1 ? "," : "").Append("{\"type\":\"directory\",\"oid\":\"0\",\"size\":0,\"path\":\"somedir\"}");
            json.Append(']');
            ctx.Response.ContentType = "application/json";
            await ctx.Response.WriteAsync(json.ToString());
            return;
        }
        if (!api && parts.Length >= 5 && parts[2] == "resolve")
        {
            if (!Resolve(repo, parts[3], out string commit)) { await Error(ctx, 404, "RevisionNotFound", "Invalid rev id: " + parts[3]); return; }
            if (repo.Gated && !Authorized(ctx))
            {
                await Error(ctx, 401, "GatedRepo", $"Access to model {repo.Id} is restricted. You must have access to it and be authenticated to access it.");
                return;
            }
            string file = string.Join('/', parts.Skip(4));
            if (!repo.Files.TryGetValue(file, out var f)) { await Error(ctx, 404, "EntryNotFound", $"{file} does not exist"); return; }
            ctx.Response.Headers["X-Repo-Commit"] = commit;
            if (f.Lfs)
            {
                ctx.Response.StatusCode = 302;
                ctx.Response.Headers.Location = $"{CdnEndpoint}lfs/{f.Sha256}?X-Amz-Signature=abc";
                ctx.Response.Headers["X-Linked-Etag"] = $"\"{f.Sha256}\"";
                ctx.Response.Headers["X-Linked-Size"] = f.Size.ToString(System.Globalization.CultureInfo.InvariantCulture);
                ctx.Response.Headers.ETag = $"\"{f.GitOid}\"";
                return;
            }
            ctx.Response.Headers.ETag = $"\"{f.GitOid}\"";
            ctx.Response.ContentLength = f.Size;
            if (HttpMethods.IsHead(ctx.Request.Method)) return;
            await using var s = File.OpenRead(f.Source);
            await s.CopyToAsync(ctx.Response.Body, ctx.RequestAborted);
            return;
        }
        await Error(ctx, 404, "", "not found");
    }

    static bool Resolve(FakeRepo repo, string rev, out string commit)
    {
        commit = repo.Commit;
        return rev == "main" || rev == repo.Commit;
    }

    async Task ServeCdn(HttpContext ctx)
    {
        string path = ctx.Request.Path.Value ?? "";
        string? auth = ctx.Request.Headers.Authorization.ToString() is { Length: > 0 } a ? a : null;
        requests.Enqueue(new FakeRequest("cdn", ctx.Request.Method, path, ctx.Request.Headers.Range.ToString() is { Length: > 0 } r ? r : null, auth));
        if (auth is not null)
        {
            CdnSawToken = true;
            ctx.Response.StatusCode = 400;
            return;
        }
        string sha = path.StartsWith("/lfs/", StringComparison.Ordinal) ? path[5..] : "";
        var file = Repos.Values.SelectMany(x => x.Files.Values).FirstOrDefault(f => f.Lfs && f.Sha256 == sha);
        if (file is null) { ctx.Response.StatusCode = 404; return; }
        if (Once(ref TooManyRequestsOnce))
        {
            ctx.Response.StatusCode = 429;
            ctx.Response.Headers.RetryAfter = "1";
            return;
        }
        if (Once(ref ServerErrorOnce)) { ctx.Response.StatusCode = 503; return; }
        long from = 0;
        var range = ctx.Request.GetTypedHeaders().Range;
        bool ignoreRange = range is not null && file.Path.EndsWith(".data", StringComparison.Ordinal) && Once(ref IgnoreRangeOnce);
        if (range is { Ranges.Count: 1 } && !ignoreRange && range.Ranges.First().From is { } start && start < file.Size)
        {
            from = start;
            ctx.Response.StatusCode = 206;
            ctx.Response.Headers.ContentRange = $"bytes {from}-{file.Size - 1}/{file.Size}";
        }
        ctx.Response.Headers.AcceptRanges = "bytes";
        ctx.Response.Headers.ETag = $"\"{file.Sha256}\"";
        ctx.Response.ContentLength = file.Size - from;
        if (HttpMethods.IsHead(ctx.Request.Method)) return;
        // Faults fire on the weights (model.onnx.data), the large file a real pull spends its time on.
        bool target = file.Path.EndsWith(".data", StringComparison.Ordinal);
        bool flip = target && Once(ref FlipByteOnce);
        long cut = target && Once(ref CutAfterBytes, out long c) ? c : -1;
        long stall = target && Once(ref StallAfterBytes, out long st) ? st : -1;
        long hold = target && Once(ref HoldAfterBytes, out long h) ? h : -1;
        await using var s = new FileStream(file.Source, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        s.Position = from;
        byte[] buffer = new byte[1 << 16];
        long sent = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            int want = buffer.Length;
            foreach (long limit in new[] { cut, stall, hold })
                if (limit >= 0 && limit > sent) want = (int)Math.Min(want, limit - sent);
            int n = await s.ReadAsync(buffer.AsMemory(0, want));
            if (n == 0) break;
            if (flip && sent == 0) buffer[n / 2] ^= 0x01;
            await ctx.Response.Body.WriteAsync(buffer.AsMemory(0, n), ctx.RequestAborted);
            sent += n;
            if (sent == cut)
            {
                await ctx.Response.Body.FlushAsync();
                CutAt = DateTime.UtcNow;
                ctx.Abort();
                return;
            }
            if (sent == stall)
            {
                await ctx.Response.Body.FlushAsync();
                try { await Task.Delay(Timeout.Infinite, ctx.RequestAborted); } catch (OperationCanceledException) { }
                return;
            }
            if (sent == hold)
            {
                await ctx.Response.Body.FlushAsync();
                Held.TrySetResult();
                try { await ReleaseHold.Task.WaitAsync(ctx.RequestAborted); } catch (OperationCanceledException) { return; }
                ctx.Abort();
                return;
            }
            if (ThrottleBytesPerSecond > 0)
            {
                double ahead = sent / (double)ThrottleBytesPerSecond - clock.Elapsed.TotalSeconds;
                if (ahead > 0) await Task.Delay(TimeSpan.FromSeconds(ahead), ctx.RequestAborted);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        ReleaseHold.TrySetResult();
        await hub.StopAsync();
        await cdn.StopAsync();
        await hub.DisposeAsync();
        await cdn.DisposeAsync();
    }
}
