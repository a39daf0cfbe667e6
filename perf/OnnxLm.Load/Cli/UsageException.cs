namespace OnnxLm.Load.Cli;

/// <summary>Bad command line; the message is printed with a pointer to --help and the process exits with code 2.</summary>
public sealed class UsageException(string message) : Exception(message);
