using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace OnnxLm.Tests.Hub;

/// <summary>
/// A forward HTTP proxy on 127.0.0.1 for the proxy tests: it records the request line of every request a client sends
/// through it (absolute-form, as clients speak to a proxy), forwards the request to the host it names with
/// <c>Connection: close</c>, and relays the response until the origin closes. One request per connection, bodiless
/// requests only (what a pull sends).
/// </summary>
internal sealed class RecordingProxy : IAsyncDisposable
{
    readonly TcpListener listener = new(IPAddress.Loopback, 0);
    readonly CancellationTokenSource stop = new();
    readonly Task accepting;

    public RecordingProxy()
    {
        listener.Start();
        accepting = AcceptAsync();
    }

    public Uri Address => new($"http://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}/");

    /// <summary>Request lines seen, e.g. <c>GET http://127.0.0.1:5000/api/models/o/n/revision/main HTTP/1.1</c>.</summary>
    public ConcurrentQueue<string> RequestLines { get; } = new();

    async Task AcceptAsync()
    {
        while (!stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await listener.AcceptTcpClientAsync(stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            _ = Task.Run(() => RelayAsync(client));
        }
    }

    async Task RelayAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                var inbound = client.GetStream();
                string head = await ReadHeadAsync(inbound);
                var lines = head.Split("\r\n");
                RequestLines.Enqueue(lines[0]);
                var parts = lines[0].Split(' ');
                if (parts.Length != 3 || !Uri.TryCreate(parts[1], UriKind.Absolute, out var target))
                {
                    await inbound.WriteAsync("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"u8.ToArray());
                    return;
                }
                var forwarded = new StringBuilder($"{parts[0]} {target.PathAndQuery} {parts[2]}\r\n");
                foreach (string line in lines.Skip(1))
                {
                    if (line.Length == 0) continue;
                    if (line.StartsWith("Connection:", StringComparison.OrdinalIgnoreCase)
                        || line.StartsWith("Proxy-", StringComparison.OrdinalIgnoreCase)) continue;
                    forwarded.Append(line).Append("\r\n");
                }
                forwarded.Append("Connection: close\r\n\r\n");
                using var origin = new TcpClient();
                await origin.ConnectAsync(target.Host, target.Port, stop.Token);
                var outbound = origin.GetStream();
                await outbound.WriteAsync(Encoding.ASCII.GetBytes(forwarded.ToString()), stop.Token);
                await outbound.CopyToAsync(inbound, stop.Token);
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
            {
                // The client or the origin went away: nothing to relay.
            }
        }
    }

    static async Task<string> ReadHeadAsync(NetworkStream stream)
    {
        var head = new List<byte>(1024);
        var one = new byte[1];
        while (head.Count < 65536)
        {
            if (await stream.ReadAsync(one) == 0) break;
            head.Add(one[0]);
            int n = head.Count;
            if (n >= 4 && head[n - 4] == '\r' && head[n - 3] == '\n' && head[n - 2] == '\r' && head[n - 1] == '\n') break;
        }
        return Encoding.ASCII.GetString([.. head]);
    }

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        listener.Stop();
        await accepting;
        stop.Dispose();
    }
}
