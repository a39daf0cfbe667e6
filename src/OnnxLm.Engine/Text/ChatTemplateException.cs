namespace OnnxLm.Engine.Text;

/// <summary>
/// A chat prompt could not be rendered: the model has no chat template, or its template raised (for example
/// <c>raise_exception("Conversation roles must alternate…")</c>) or could not be parsed. The message is the template's
/// own, fit for the client; the request is at fault or the model cannot chat, never the server.
/// </summary>
public sealed class ChatTemplateException(string message, bool missing) : Exception(message)
{
    /// <summary>True when the model has no chat template at all.</summary>
    public bool Missing { get; } = missing;
}
