namespace OnnxLm.Hosting;

/// <summary>The native libraries could not be extracted or loaded: printed as one line, exit code 1.</summary>
internal sealed class NativeBootstrapException(string message, Exception inner) : Exception(message, inner);
