using System.Net.Sockets;
using System.Text;

namespace OnnxLm.Hosting;

/// <summary>
/// sd_notify(3) without libsystemd: one datagram to the Unix socket named by <c>$NOTIFY_SOCKET</c> (set by systemd for
/// <c>Type=notify</c> units). A leading '@' names a socket in Linux's abstract namespace (sent as a leading NUL).
/// Without the variable (not under systemd) every call is a no-op returning false; send errors are swallowed, because a
/// missing readiness message only delays systemd, while an exception here would take the server down.
/// </summary>
public static class SystemdNotifier
{
    /// <summary>Tells systemd the service is up (Type=notify units stay "activating" until then).</summary>
    public static bool NotifyReady() => Notify("READY=1\nSTATUS=serving");

    /// <summary>Tells systemd a graceful stop has begun.</summary>
    public static bool NotifyStopping() => Notify("STOPPING=1\nSTATUS=draining");

    /// <summary>Sends <paramref name="state"/> (newline-separated <c>KEY=VALUE</c> assignments). True when it was sent.</summary>
    public static bool Notify(string state) => Notify(state, Environment.GetEnvironmentVariable("NOTIFY_SOCKET"));

    internal static bool Notify(string state, string? notifySocket)
    {
        if (string.IsNullOrEmpty(notifySocket)) return false;
        string address;
        if (notifySocket[0] == '@') address = "\0" + notifySocket[1..];
        else if (notifySocket[0] == '/') address = notifySocket;
        else return false;   // vsock: or relative addresses: not used by systemd for services
        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
            socket.SendTo(Encoding.UTF8.GetBytes(state), new UnixDomainSocketEndPoint(address));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
