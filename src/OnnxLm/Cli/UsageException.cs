namespace OnnxLm.Cli;

/// <summary>Bad command-line input: printed as one message, exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);
