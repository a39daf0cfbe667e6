using System.Globalization;

namespace OnnxLm.Engine.Cache.Remote;

/// <summary>
/// Where the remote KV tier lives, parsed from <c>redis://[:PASSWORD@]HOST[:PORT][/DB][?password=…&amp;db=N]</c>
/// (<c>--remote-kv</c>). Invariant: a constructed endpoint has a host, a port in 1..65535 and a database in 0..15; the
/// password never appears in <see cref="ToString"/> (it goes to logs and <c>/metrics</c>).
/// </summary>
public sealed record RedisEndpoint(string Host, int Port, string? Password, int Database)
{
    /// <summary>Parses the URL; null and a message saying what is wrong when it is not one.</summary>
    public static RedisEndpoint? TryParse(string text, out string? error)
    {
        error = null;
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme != "redis" || string.IsNullOrEmpty(uri.Host))
        {
            error = $"'{Redact(text)}' is not a redis://HOST:PORT URL";
            return null;
        }
        int port = uri.IsDefaultPort || uri.Port < 0 ? 6379 : uri.Port;
        string? password = null;
        int db = 0;
        if (uri.UserInfo.Length > 0)
        {
            int colon = uri.UserInfo.IndexOf(':', StringComparison.Ordinal);
            password = Uri.UnescapeDataString(colon >= 0 ? uri.UserInfo[(colon + 1)..] : uri.UserInfo);
        }
        string path = uri.AbsolutePath.Trim('/');
        if (path.Length > 0 && !int.TryParse(path, NumberStyles.None, CultureInfo.InvariantCulture, out db))
        {
            error = $"the path of '{Redact(text)}' must be a database number";
            return null;
        }
        foreach (string pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = pair.IndexOf('=', StringComparison.Ordinal);
            string key = eq < 0 ? pair : pair[..eq], value = eq < 0 ? "" : Uri.UnescapeDataString(pair[(eq + 1)..]);
            switch (key)
            {
                case "password":
                    password = value;
                    break;
                case "db" when int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int n):
                    db = n;
                    break;
                default:
                    error = $"unknown or malformed setting '{key}' in '{Redact(text)}' (known: password, db)";
                    return null;
            }
        }
        if (db is < 0 or > 15)
        {
            error = $"the database of '{Redact(text)}' must be between 0 and 15";
            return null;
        }
        return new RedisEndpoint(uri.Host, port, string.IsNullOrEmpty(password) ? null : password, db);
    }

    /// <summary>The URL without its password.</summary>
    public override string ToString() =>
        $"redis://{(Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]" : Host)}:{Port.ToString(CultureInfo.InvariantCulture)}/{Database.ToString(CultureInfo.InvariantCulture)}{(Password is null ? "" : " (with a password)")}";

    static string Redact(string text)
    {
        int q = text.IndexOf("password=", StringComparison.Ordinal);
        if (q >= 0) text = text[..(q + 9)] + "***";
        int at = text.IndexOf('@', StringComparison.Ordinal);
        int scheme = text.IndexOf("://", StringComparison.Ordinal);
        if (at > 0 && scheme >= 0 && at > scheme) text = text[..(scheme + 3)] + "***" + text[at..];
        return text;
    }
}
