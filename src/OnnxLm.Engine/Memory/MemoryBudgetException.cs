namespace OnnxLm.Engine.Memory;

/// <summary>The requested context and batch size (or the weights alone) do not fit the memory budget; the message
/// carries the arithmetic. An <see cref="ArgumentException"/>, so the server reports it like any bad option (exit 2).</summary>
public sealed class MemoryBudgetException(string message) : ArgumentException(message);
