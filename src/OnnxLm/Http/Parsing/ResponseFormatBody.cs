namespace OnnxLm.Http.Parsing;

/// <summary><c>response_format</c>: <c>text</c>, <c>json_object</c> or <c>json_schema</c> (its schema kept as raw JSON,
/// compiled by <see cref="RequestReader.ResponseGrammar"/>).</summary>
[JsonRequest]
public sealed partial class ResponseFormatBody
{
    [JsonField("type", MaxLength = 64, Required = true)] public Utf8Slice Type { get; set; }
    [JsonField("json_schema")] public JsonSchemaFormatBody? JsonSchema { get; set; }
}

/// <summary><c>response_format.json_schema</c>: OpenAI's <c>name</c>, <c>description</c>, <c>schema</c>, <c>strict</c>.</summary>
[JsonRequest]
public sealed partial class JsonSchemaFormatBody
{
    [JsonField("name", MaxLength = 256)] public Utf8Slice Name { get; set; }
    [JsonField("description", MaxLength = 65536)] public Utf8Slice Description { get; set; }
    [JsonField("schema")] public RawJson Schema { get; set; }
    [JsonField("strict")] public bool? Strict { get; set; }
}
