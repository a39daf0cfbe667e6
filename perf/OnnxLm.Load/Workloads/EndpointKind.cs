namespace OnnxLm.Load.Workloads;

/// <summary>Which OpenAI endpoint a request goes to.</summary>
public enum EndpointKind
{
    Chat,
    Completion,
}
