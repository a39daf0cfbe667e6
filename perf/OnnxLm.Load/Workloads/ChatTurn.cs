namespace OnnxLm.Load.Workloads;

/// <summary>One message of a chat request.</summary>
public readonly record struct ChatTurn(string Role, string Content);
