using System.Net.Sockets;
using System.Text;
using OnnxLm.Hosting;

namespace OnnxLm.Tests.Packaging;

/// <summary><see cref="SystemdNotifier"/> sends its datagram to a real Unix socket, path or abstract ('@'), and does
/// nothing without NOTIFY_SOCKET.</summary>
public class SystemdNotifierTests
{
    static async Task<string> Receive(Socket socket)
    {
        byte[] buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        int n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
        return Encoding.UTF8.GetString(buffer, 0, n);
    }

    [Test]
    public async Task Ready_reaches_a_socket_named_by_path()
    {
        if (OperatingSystem.IsWindows()) return;
        string path = Path.Combine(Path.GetTempPath(), $"onnxlm-notify-{Guid.NewGuid():N}.sock");
        using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(path));
        try
        {
            await Assert.That(SystemdNotifier.Notify("READY=1\nSTATUS=serving", path)).IsTrue();
            await Assert.That(await Receive(socket)).IsEqualTo("READY=1\nSTATUS=serving");
        }
        finally { File.Delete(path); }
    }

    [Test]
    public async Task Stopping_reaches_an_abstract_socket_given_with_an_at_sign()
    {
        if (!OperatingSystem.IsLinux()) return;   // the abstract namespace is Linux-only
        string name = $"onnxlm-notify-{Guid.NewGuid():N}";
        using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint("\0" + name));
        await Assert.That(SystemdNotifier.Notify("STOPPING=1", "@" + name)).IsTrue();
        await Assert.That(await Receive(socket)).IsEqualTo("STOPPING=1");
    }

    [Test]
    public async Task Without_a_notify_socket_nothing_is_sent()
    {
        await Assert.That(SystemdNotifier.Notify("READY=1", null)).IsFalse();
        await Assert.That(SystemdNotifier.Notify("READY=1", "")).IsFalse();
        await Assert.That(SystemdNotifier.Notify("READY=1", "vsock:2:1234")).IsFalse();
        // A path nobody listens on: reported as not sent, never thrown.
        await Assert.That(SystemdNotifier.Notify("READY=1", Path.Combine(Path.GetTempPath(), $"absent-{Guid.NewGuid():N}.sock"))).IsFalse();
    }
}
