using System.Buffers;
using System.Security.Cryptography;
using System.Text;

namespace OnnxLm.Http;

/// <summary>
/// The accepted API keys, kept only as SHA-256 digests. A presented key is hashed and compared with every digest using
/// <see cref="CryptographicOperations.FixedTimeEquals"/>, without stopping at a match: the time taken depends neither on
/// how much of a key was right nor on its length, nor on which key matched.
/// </summary>
internal sealed class ApiKeySet
{
    const int MaxKeyBytes = 1024;
    readonly byte[][] digests;

    ApiKeySet(byte[][] digests) => this.digests = digests;

    /// <summary>False when no key was configured: every request is allowed.</summary>
    public bool IsEnabled => digests.Length > 0;

    public int Count => digests.Length;

    /// <summary>Keys from the command line plus a key file (one per line; blank lines and # comments skipped).</summary>
    /// <exception cref="IOException">The key file cannot be read.</exception>
    public static ApiKeySet Create(IEnumerable<string> keys, string? keyFile)
    {
        var all = new List<string>(keys);
        if (keyFile is not null)
        {
            foreach (string line in File.ReadAllLines(keyFile))
            {
                string key = line.Trim();
                if (key.Length > 0 && key[0] != '#') all.Add(key);
            }
            if (all.Count == 0) throw new IOException($"the API key file {keyFile} holds no key");
        }
        var digests = new byte[all.Count][];
        for (int i = 0; i < all.Count; i++) digests[i] = SHA256.HashData(Encoding.UTF8.GetBytes(all[i]));
        return new ApiKeySet(digests);
    }

    /// <summary>True when the request carries an accepted key in <c>Authorization: Bearer</c> or <c>api-key</c>.</summary>
    public bool IsAuthorized(HttpRequest request)
    {
        var headers = request.Headers;
        string? authorization = headers.Authorization;
        if (authorization is not null && authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            return Matches(authorization.AsSpan(7).Trim());
        string? apiKey = headers["api-key"];
        return apiKey is not null && Matches(apiKey.AsSpan().Trim());
    }

    bool Matches(ReadOnlySpan<char> key)
    {
        if (key.IsEmpty || key.Length > MaxKeyBytes) return false;
        Span<byte> utf8 = stackalloc byte[MaxKeyBytes * 3];
        if (!Encoding.UTF8.TryGetBytes(key, utf8, out int written)) return false;
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(utf8[..written], digest);
        bool match = false;
        // Every digest is compared (no early exit), so which key matched does not show in the timing.
        foreach (var d in digests) match |= CryptographicOperations.FixedTimeEquals(d, digest);
        utf8[..written].Clear();
        return match;
    }
}
