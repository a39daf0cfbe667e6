namespace OnnxLm.Hosting;

/// <summary>The server could not start (bad model folder or config, bad engine options, address in use). The message is
/// complete and names what failed, so the CLI prints it as is and exits with code 2.</summary>
public sealed class ServerStartException(string message, Exception? inner = null) : Exception(message, inner);
