namespace OnnxLm.Hub;

/// <summary>A pull or cache lookup that cannot go on; the message is for the user (never holds the token).</summary>
internal sealed class HubException(string message, int exitCode = 2, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>2 for what the user can fix (not found, gated, offline, disk full, unsupported); 1 for a verification failure.</summary>
    public int ExitCode { get; } = exitCode;
}
