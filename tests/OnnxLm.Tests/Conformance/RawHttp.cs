using System.Net.Sockets;
using System.Text;

namespace OnnxLm.Tests.Conformance;

/// <summary>
/// A bare HTTP/1.1 exchange over a socket, sending the body while already reading the answer. For bodies the server may
/// refuse before reading them all (413, or a 400 at the first bad byte): HTTP lets it answer and close early, and HttpClient
/// then reports only the broken upload, not the answer. <c>Connection: close</c>, so the answer ends at EOF.
/// </summary>
internal static class RawHttp
{
    public sealed record Answer(int Status, string? ContentType, byte[] Body);

    public static async Task<Answer> SendAsync(Uri server, string method, string path, byte[] body, string? contentType, bool chunked, CancellationToken ct)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(server.Host, server.Port, ct);
        var stream = tcp.GetStream();
        var head = new StringBuilder($"{method} {path} HTTP/1.1\r\nHost: {server.Authority}\r\nConnection: close\r\n");
        if (contentType is not null) head.Append($"Content-Type: {contentType}\r\n");
        head.Append(chunked ? "Transfer-Encoding: chunked\r\n" : $"Content-Length: {body.Length}\r\n").Append("\r\n");

        var upload = Task.Run(async () =>
        {
            try
            {
                await stream.WriteAsync(Encoding.ASCII.GetBytes(head.ToString()), ct);
                const int piece = 64 << 10;
                for (int at = 0; at < body.Length; at += piece)
                {
                    int n = Math.Min(piece, body.Length - at);
                    if (chunked) await stream.WriteAsync(Encoding.ASCII.GetBytes($"{n:X}\r\n"), ct);
                    await stream.WriteAsync(body.AsMemory(at, n), ct);
                    if (chunked) await stream.WriteAsync("\r\n"u8.ToArray(), ct);
                }
                if (chunked) await stream.WriteAsync("0\r\n\r\n"u8.ToArray(), ct);
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
            {
                // The server answered and closed before taking the whole body: allowed, the answer is what counts.
            }
        }, ct);

        var received = new MemoryStream();
        var buffer = new byte[64 << 10];
        try
        {
            int n;
            while ((n = await stream.ReadAsync(buffer, ct)) > 0) received.Write(buffer, 0, n);
        }
        catch (IOException) when (received.Length > 0)
        {
            // A reset after the answer (the server closed with unread body bytes): the answer is complete.
        }
        tcp.Close();
        try { await upload; } catch (OperationCanceledException) { }
        return Parse(received.ToArray());
    }

    static Answer Parse(byte[] raw)
    {
        int split = raw.AsSpan().IndexOf("\r\n\r\n"u8);
        if (split < 0) throw new IOException($"no complete HTTP answer ({raw.Length} bytes)");
        string[] lines = Encoding.ASCII.GetString(raw, 0, split).Split("\r\n");
        int status = int.Parse(lines[0].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        string? contentType = null;
        bool chunked = false;
        foreach (string line in lines.Skip(1))
        {
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            string name = line[..colon].Trim(), value = line[(colon + 1)..].Trim();
            if (name.Equals("Content-Type", StringComparison.OrdinalIgnoreCase)) contentType = value;
            if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase) && value.Contains("chunked", StringComparison.OrdinalIgnoreCase)) chunked = true;
        }
        var body = raw.AsSpan(split + 4);
        if (!chunked) return new Answer(status, contentType, body.ToArray());
        var decoded = new MemoryStream();
        while (true)
        {
            int eol = body.IndexOf("\r\n"u8);
            int size = Convert.ToInt32(Encoding.ASCII.GetString(body[..eol]).Split(';')[0], 16);
            if (size == 0) break;
            decoded.Write(body.Slice(eol + 2, size));
            body = body[(eol + 2 + size + 2)..];
        }
        return new Answer(status, contentType, decoded.ToArray());
    }
}
