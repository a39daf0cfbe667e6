using System.Globalization;
using System.Runtime.InteropServices;

namespace OnnxLm.Hosting;

/// <summary>
/// A process started as a background job of a non-interactive shell (<c>cmd &amp;</c> in a script, a CI step) inherits
/// SIGINT (and SIGQUIT) as ignored, and .NET leaves an ignored signal ignored: <c>kill -INT</c> would never reach the
/// drain. <c>serve</c> puts SIGINT back to its default before registering its handler, as an interactive shell's job
/// would have it. Reads the disposition from <c>/proc/self/status</c> (Linux); elsewhere it does nothing.
/// </summary>
internal static partial class InheritedSignals
{
    const int SigInt = 2;

    /// <summary>Whether a <c>/proc/[pid]/status</c> text lists <paramref name="signal"/> in its <c>SigIgn</c> mask.</summary>
    public static bool IsIgnored(string status, int signal = SigInt)
    {
        foreach (var line in status.AsSpan().EnumerateLines())
        {
            if (!line.StartsWith("SigIgn:", StringComparison.Ordinal)) continue;
            return ulong.TryParse(line["SigIgn:".Length..].Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong mask)
                && (mask & (1UL << (signal - 1))) != 0;
        }
        return false;
    }

    /// <summary>
    /// Resets an inherited "ignore SIGINT" to the default disposition. Call before registering a SIGINT handler.
    /// Returns a note for the log when it did (null when SIGINT was not ignored), or why it could not.
    /// </summary>
    public static string? ResetIgnoredSigInt()
    {
        if (!OperatingSystem.IsLinux()) return null;
        string status;
        try { status = File.ReadAllText("/proc/self/status"); }
        catch (IOException) { return null; }
        if (!IsIgnored(status)) return null;
        return Signal(SigInt, 0 /* SIG_DFL */) == -1 /* SIG_ERR */
            ? $"SIGINT is ignored (inherited from the parent, e.g. a background job of a script) and could not be reset (errno {Marshal.GetLastPInvokeError()}): stop the server with SIGTERM"
            : "SIGINT was ignored (inherited from the parent, e.g. a background job of a script); reset to its default so SIGINT drains and stops the server";
    }

    [LibraryImport("libc", EntryPoint = "signal", SetLastError = true)]
    private static partial nint Signal(int signal, nint handler);
}
