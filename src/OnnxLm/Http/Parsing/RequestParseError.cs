namespace OnnxLm.Http.Parsing;

/// <summary>
/// Why a request body was refused. <see cref="Param"/> is the OpenAI-style path of the offending value
/// (<c>temperature</c>, <c>messages[2].content[0].type</c>) or null for malformed JSON. Readers report paths relative to
/// the value they read and each enclosing level prefixes its own segment with <see cref="Under"/>, so the success path
/// never builds a string.
/// </summary>
public readonly struct RequestParseError
{
    RequestParseError(string? param, string detail)
    {
        Param = param;
        Detail = detail;
    }

    /// <summary>The JSON path of the offending value, or null when the body itself is unusable.</summary>
    public string? Param { get; }

    /// <summary>The complaint without the path: "must be a number".</summary>
    public string Detail { get; }

    /// <summary>The full sentence for the API error: "temperature must be a number".</summary>
    public string Message => Param is null ? Detail : Param + " " + Detail;

    /// <summary>An error about the value being read; the callers add the path.</summary>
    public static RequestParseError Here(string detail) => new(null, detail);

    /// <summary>An error about a named member of the value being read.</summary>
    public static RequestParseError At(string param, string detail) => new(param, detail);

    /// <summary>An error about the whole body (malformed JSON, empty body): it never gets a path.</summary>
    public static RequestParseError Body(string detail) => new(null, detail) { IsBodyError = true };

    /// <summary>True for errors about the body as a whole, which <see cref="Under"/> leaves without a path.</summary>
    public bool IsBodyError { get; private init; }

    /// <summary>This error seen from the enclosing level: <c>content</c> under <c>[2]</c> is <c>[2].content</c>.</summary>
    public RequestParseError Under(string segment)
    {
        if (IsBodyError) return this;
        if (Param is null) return new(segment, Detail);
        return new(Param[0] == '[' ? segment + Param : segment + "." + Param, Detail);
    }

    /// <summary>This error seen from the enclosing array: under item 2 it is <c>[2]...</c>.</summary>
    public RequestParseError UnderItem(int index) => IsBodyError ? this : Under("[" + index.ToString(System.Globalization.CultureInfo.InvariantCulture) + "]");

    public override string ToString() => Message;
}
