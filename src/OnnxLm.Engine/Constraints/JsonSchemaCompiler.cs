using System.Diagnostics;
using System.Text.Json;

namespace OnnxLm.Engine.Constraints;

/// <summary>Limits on what a schema may cost; each exceeded limit is a <see cref="SchemaNotSupportedException"/>.</summary>
public sealed record JsonSchemaCompilerOptions
{
    public static readonly JsonSchemaCompilerOptions Default = new();

    /// <summary>Largest schema text accepted, in UTF-8 bytes.</summary>
    public int MaxSchemaBytes { get; init; } = 256 * 1024;

    /// <summary>Most grammar nodes a schema may compile to.</summary>
    public int MaxNodes { get; init; } = 20_000;

    /// <summary>Most values an <c>enum</c> may list.</summary>
    public int MaxEnumValues { get; init; } = 4_096;

    /// <summary>Longest a compile may take.</summary>
    public TimeSpan MaxCompileTime { get; init; } = TimeSpan.FromSeconds(1);
}

/// <summary>
/// Compiles a JSON schema to a <see cref="JsonGrammar"/>, sound by construction and failing closed: every keyword is
/// either enforced exactly, narrowed (the accepted language shrinks but stays inside the schema's), ignored because it
/// is an annotation, or refused with a <see cref="SchemaNotSupportedException"/> naming it and its pointer.
/// Narrowing (documented, deliberate):
/// <list type="bullet">
/// <item>output is minified JSON: no whitespace between tokens;</item>
/// <item>declared properties appear in declared order, each at most once; keys are written in the canonical escaping
/// (only <c>"</c>, <c>\</c> and control characters escaped);</item>
/// <item>an object with declared or required properties takes no other keys, whatever <c>additionalProperties</c> says
/// (unless it is <c>false</c>, which this enforces anyway); an object without them is a map whose values follow
/// <c>additionalProperties</c> (any JSON when absent);</item>
/// <item>a <c>number</c> with bounds is written without exponent, with at most 9 integer and 9 fraction digits (bounds with
/// more decimal places are refused);</item>
/// <item><c>integer</c> is written without fraction or exponent; bounded integers have at most 18 digits and no
/// <c>-0</c>; <c>enum</c>/<c>const</c> values are written in their minified form as given in the schema;</item>
/// <item>strings: <c>\u</c> escapes of surrogates are not produced (characters outside the BMP are written as UTF-8);
/// raw bytes are valid UTF-8;</item>
/// <item>documents nest at most <see cref="JsonGrammar.MaxDepth"/> values deep.</item>
/// <item><c>pattern</c> and <c>format</c> strings hold raw characters only (no escapes) and follow the narrowing of
/// <see cref="RegexDfa"/>; formats are the subsets listed in <c>Formats</c> (date, time, date-time, uuid, email, uri).</item>
/// </list>
/// Refused (restricting keywords not enforced yet): other formats, length bounds beside a pattern/format,
/// <c>patternProperties</c>,
/// <c>propertyNames</c>, <c>dependencies</c>, <c>dependentRequired</c>, <c>dependentSchemas</c>, <c>not</c>,
/// <c>if</c>/<c>then</c>/<c>else</c>, <c>contains</c>, <c>uniqueItems: true</c> (unless at most one item),
/// <c>multipleOf</c> (other than 1 on integers), <c>minProperties</c>/<c>maxProperties</c>
/// unless implied by the narrowing, <c>allOf</c> with more than one schema, <c>anyOf</c>/<c>oneOf</c>/type unions whose
/// branches can start with the same byte (literal sets are merged), <c>$ref</c> beside other assertions, remote
/// <c>$ref</c>, <c>$id</c> below the root, and any keyword this compiler does not know.
/// </summary>
public static class JsonSchemaCompiler
{
    /// <summary>Compiles schema text (UTF-8 JSON).</summary>
    public static JsonGrammar Compile(ReadOnlySpan<byte> utf8Schema, JsonSchemaCompilerOptions? options = null)
    {
        options ??= JsonSchemaCompilerOptions.Default;
        if (utf8Schema.Length > options.MaxSchemaBytes)
        {
            throw new SchemaNotSupportedException("maxSchemaBytes", "", $"the schema is {utf8Schema.Length} bytes, more than {options.MaxSchemaBytes}.");
        }
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(utf8Schema.ToArray(), new JsonDocumentOptions { MaxDepth = 128 });
        }
        catch (JsonException e)
        {
            throw new SchemaNotSupportedException("$schema", "", $"the schema is not valid JSON ({e.Message}).");
        }
        using (document)
        {
            return Compile(document.RootElement, options);
        }
    }

    /// <summary>Compiles a parsed schema.</summary>
    public static JsonGrammar Compile(JsonElement schema, JsonSchemaCompilerOptions? options = null)
    {
        var builder = new Builder(schema, options ?? JsonSchemaCompilerOptions.Default);
        try
        {
            return builder.Build();
        }
        catch (Exception e) when (e is InvalidOperationException or System.Text.EncoderFallbackException)
        {
            // A string that is not valid Unicode (a lone surrogate escape) cannot be written as one exact literal.
            throw new SchemaNotSupportedException("enum", "", $"a string in the schema is not valid Unicode ({e.Message}).");
        }
    }

    /// <summary>The grammar of <c>response_format: {"type": "json_object"}</c>: any JSON object.</summary>
    public static JsonGrammar CompileAnyObject() => Compile("""{"type":"object"}"""u8);

    private enum BKind : byte { Object, Array, String, Number, Integer, Literal, Union, Alias, Never, Pattern, BoundedNumber }

    private sealed class BNode
    {
        public BKind Kind;
        public string Pointer = "";
        public List<(byte[] Key, int Node, bool Required)>? Properties;
        public int Additional = -1;
        public List<int>? Prefix;
        public int Items = -1;
        public int MinItems;
        public int MaxItems = int.MaxValue;
        public int MinLength;
        public int MaxLength = int.MaxValue;
        public bool HasLo;
        public bool HasHi;
        public long Lo;
        public long Hi;
        public List<byte[]>? Literals;
        public List<int>? Branches;
        public int Target = -1;
        public int[]? Dispatch;
        public RegexDfa? Dfa;
    }

    private sealed class Builder(JsonElement root, JsonSchemaCompilerOptions options)
    {
        private const long MagnitudeCap = 999_999_999_999_999_999;
        private const int Unproductive = int.MaxValue / 4;

        private readonly List<BNode> nodeList = [];
        private readonly Dictionary<string, int> byPointer = new(StringComparer.Ordinal);
        private readonly Stopwatch clock = Stopwatch.StartNew();
        private int anyValue = -1;

        public JsonGrammar Build()
        {
            int rootNode = CompileAt(root, "");
            ResolveAliases();
            BuildUnions();
            int[] minDepth = ComputeMinDepth();
            if (minDepth[rootNode] > JsonGrammar.MaxDepth)
            {
                throw new SchemaNotSupportedException(minDepth[rootNode] >= Unproductive ? "$schema" : "maxDepth", "",
                    minDepth[rootNode] >= Unproductive
                        ? "no finite JSON document satisfies the schema."
                        : $"every document nests deeper than {JsonGrammar.MaxDepth} values.");
            }
            return Emit(rootNode, minDepth);
        }

        private static readonly HashSet<string> Annotations = new(StringComparer.Ordinal)
        {
            "title", "description", "default", "examples", "$comment", "$schema", "deprecated", "readOnly", "writeOnly",
            "definitions", "$defs", "contentMediaType", "contentEncoding", "strict", "name",
        };

        private static readonly HashSet<string> Assertions = new(StringComparer.Ordinal)
        {
            "type", "nullable", "enum", "const", "anyOf", "oneOf", "allOf", "$ref",
            "properties", "required", "additionalProperties", "minProperties", "maxProperties",
            "items", "prefixItems", "additionalItems", "minItems", "maxItems", "uniqueItems",
            "minLength", "maxLength", "pattern", "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
        };

        private int NewNode(BKind kind, string pointer)
        {
            if (nodeList.Count >= options.MaxNodes)
            {
                throw new SchemaNotSupportedException("maxNodes", pointer, $"the schema compiles to more than {options.MaxNodes} nodes.");
            }
            if (clock.Elapsed > options.MaxCompileTime)
            {
                throw new SchemaNotSupportedException("maxCompileTime", pointer, $"compiling took longer than {options.MaxCompileTime.TotalMilliseconds} ms.");
            }
            nodeList.Add(new BNode { Kind = kind, Pointer = pointer });
            return nodeList.Count - 1;
        }

        private int AnyValue()
        {
            if (anyValue >= 0)
            {
                return anyValue;
            }
            anyValue = NewNode(BKind.Union, "");
            int obj = NewNode(BKind.Object, "");
            nodeList[obj].Properties = [];
            nodeList[obj].Additional = anyValue;
            int arr = NewNode(BKind.Array, "");
            nodeList[arr].Prefix = [];
            nodeList[arr].Items = anyValue;
            int str = NewNode(BKind.String, "");
            int num = NewNode(BKind.Number, "");
            int lit = NewNode(BKind.Literal, "");
            nodeList[lit].Literals = ["true"u8.ToArray(), "false"u8.ToArray(), "null"u8.ToArray()];
            nodeList[anyValue].Branches = [obj, arr, str, num, lit];
            return anyValue;
        }

        /// <summary>Compiles the schema at <paramref name="pointer"/> once; a second reach (a <c>$ref</c>, recursion)
        /// gets the same node id, allocated before the body is compiled.</summary>
        private int CompileAt(JsonElement schema, string pointer)
        {
            if (byPointer.TryGetValue(pointer, out int existing))
            {
                return existing;
            }
            int id = NewNode(BKind.Alias, pointer);
            byPointer[pointer] = id;
            int body = CompileSchema(schema, pointer);
            nodeList[id].Target = body;
            return id;
        }

        private static SchemaNotSupportedException Refuse(string keyword, string pointer, string reason) => new(keyword, pointer, reason);

        private int CompileSchema(JsonElement schema, string pointer)
        {
            if (schema.ValueKind == JsonValueKind.True)
            {
                return AnyValue();
            }
            if (schema.ValueKind == JsonValueKind.False)
            {
                return NewNode(BKind.Never, pointer);
            }
            if (schema.ValueKind != JsonValueKind.Object)
            {
                throw Refuse("$schema", pointer, "a schema must be an object or a boolean.");
            }
            var assertions = new List<string>();
            foreach (JsonProperty property in schema.EnumerateObject())
            {
                if (Assertions.Contains(property.Name))
                {
                    assertions.Add(property.Name);
                }
                else if (property.Name == "$id" || property.Name == "id")
                {
                    if (pointer.Length != 0)
                    {
                        throw Refuse(property.Name, pointer, "a base URI below the root is not supported.");
                    }
                }
                else if (!Annotations.Contains(property.Name))
                {
                    throw Refuse(property.Name, pointer, "this keyword is not supported, so it cannot be enforced.");
                }
            }

            if (schema.TryGetProperty("$ref", out JsonElement reference))
            {
                foreach (string keyword in assertions)
                {
                    if (keyword != "$ref")
                    {
                        throw Refuse(keyword, pointer, "an assertion beside '$ref' is not supported.");
                    }
                }
                return ResolveReference(reference, pointer);
            }
            if (schema.TryGetProperty("allOf", out JsonElement allOf))
            {
                RequireAlone(assertions, "allOf", pointer);
                if (allOf.ValueKind != JsonValueKind.Array || allOf.GetArrayLength() != 1)
                {
                    throw Refuse("allOf", pointer, "only an allOf of exactly one schema is supported.");
                }
                return CompileAt(allOf[0], pointer + "/allOf/0");
            }
            foreach (string combinator in (ReadOnlySpan<string>)["anyOf", "oneOf"])
            {
                if (schema.TryGetProperty(combinator, out JsonElement branches))
                {
                    RequireAlone(assertions, combinator, pointer);
                    if (branches.ValueKind != JsonValueKind.Array || branches.GetArrayLength() == 0)
                    {
                        throw Refuse(combinator, pointer, "must be a non-empty array of schemas.");
                    }
                    // oneOf equals anyOf here: BuildUnions refuses branches that can start with the same byte, so no
                    // document matches two branches.
                    int union = NewNode(BKind.Union, pointer + "/" + combinator);
                    var list = new List<int>();
                    int i = 0;
                    foreach (JsonElement branch in branches.EnumerateArray())
                    {
                        list.Add(CompileAt(branch, $"{pointer}/{combinator}/{i++}"));
                    }
                    nodeList[union].Branches = list;
                    return union;
                }
            }
            return CompileTyped(schema, pointer, assertions);
        }

        private static void RequireAlone(List<string> assertions, string keyword, string pointer)
        {
            foreach (string other in assertions)
            {
                if (other != keyword)
                {
                    throw Refuse(other, pointer, $"an assertion beside '{keyword}' is not supported.");
                }
            }
        }

        private int ResolveReference(JsonElement reference, string pointer)
        {
            string? text = reference.ValueKind == JsonValueKind.String ? reference.GetString() : null;
            if (text is null || !text.StartsWith('#'))
            {
                throw Refuse("$ref", pointer, "only local references ('#...') are supported.");
            }
            string fragment = Uri.UnescapeDataString(text[1..]);
            if (fragment.Length != 0 && fragment[0] != '/')
            {
                throw Refuse("$ref", pointer, "anchors are not supported; use a JSON pointer.");
            }
            JsonElement target = root;
            foreach (string raw in fragment.Length == 0 ? [] : fragment[1..].Split('/'))
            {
                string token = raw.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal);
                if (target.ValueKind == JsonValueKind.Object && target.TryGetProperty(token, out JsonElement next))
                {
                    target = next;
                }
                else if (target.ValueKind == JsonValueKind.Array && int.TryParse(token, out int index) && index >= 0
                    && index < target.GetArrayLength())
                {
                    target = target[index];
                }
                else
                {
                    throw Refuse("$ref", pointer, $"'{text}' does not resolve in this schema.");
                }
            }
            string targetPointer = fragment.Length == 0 ? "" : "/" + string.Join('/', fragment[1..].Split('/'));
            return CompileAt(target, targetPointer);
        }

        [Flags]
        private enum Types { None = 0, Null = 1, Boolean = 2, Object = 4, Array = 8, String = 16, Number = 32, Integer = 64, All = 127 }

        private int CompileTyped(JsonElement schema, string pointer, List<string> assertions)
        {
            Types types = Types.All;
            if (schema.TryGetProperty("type", out JsonElement type))
            {
                types = Types.None;
                if (type.ValueKind == JsonValueKind.String)
                {
                    types = ParseType(type, pointer);
                }
                else if (type.ValueKind == JsonValueKind.Array)
                {
                    foreach (JsonElement t in type.EnumerateArray())
                    {
                        types |= ParseType(t, pointer);
                    }
                }
                else
                {
                    throw Refuse("type", pointer, "must be a string or an array of strings.");
                }
                if (schema.TryGetProperty("nullable", out JsonElement nullable) && nullable.ValueKind == JsonValueKind.True)
                {
                    types |= Types.Null;
                }
            }
            if ((types & Types.Number) != 0)
            {
                types &= ~Types.Integer; // number includes every integer
            }

            bool hasEnum = schema.TryGetProperty("enum", out JsonElement enumValues);
            bool hasConst = schema.TryGetProperty("const", out JsonElement constValue);
            if (hasEnum || hasConst)
            {
                foreach (string keyword in assertions)
                {
                    if (keyword is not ("type" or "nullable" or "enum" or "const"))
                    {
                        throw Refuse(keyword, pointer, "an assertion beside 'enum'/'const' is not supported.");
                    }
                }
                var values = new List<JsonElement>();
                if (hasEnum)
                {
                    if (enumValues.ValueKind != JsonValueKind.Array)
                    {
                        throw Refuse("enum", pointer, "must be an array.");
                    }
                    if (enumValues.GetArrayLength() > options.MaxEnumValues)
                    {
                        throw Refuse("enum", pointer, $"more than {options.MaxEnumValues} values.");
                    }
                    values.AddRange(enumValues.EnumerateArray());
                }
                if (hasConst)
                {
                    if (hasEnum && !values.Exists(v => JsonElement.DeepEquals(v, constValue)))
                    {
                        values.Clear();
                    }
                    else
                    {
                        values = [constValue];
                    }
                }
                var literals = new List<byte[]>();
                foreach (JsonElement value in values)
                {
                    if (Matches(value, types))
                    {
                        byte[] bytes = CanonicalJson.Serialize(value);
                        if (!literals.Exists(l => l.AsSpan().SequenceEqual(bytes)))
                        {
                            literals.Add(bytes);
                        }
                    }
                }
                if (literals.Count == 0)
                {
                    return NewNode(BKind.Never, pointer);
                }
                int literal = NewNode(BKind.Literal, pointer);
                nodeList[literal].Literals = literals;
                return literal;
            }

            var branches = new List<int>();
            if ((types & (Types.Null | Types.Boolean)) != 0)
            {
                int literal = NewNode(BKind.Literal, pointer);
                nodeList[literal].Literals = [];
                if ((types & Types.Null) != 0)
                {
                    nodeList[literal].Literals!.Add("null"u8.ToArray());
                }
                if ((types & Types.Boolean) != 0)
                {
                    nodeList[literal].Literals!.AddRange(["true"u8.ToArray(), "false"u8.ToArray()]);
                }
                branches.Add(literal);
            }
            if ((types & Types.Object) != 0)
            {
                branches.Add(CompileObject(schema, pointer));
            }
            if ((types & Types.Array) != 0)
            {
                branches.Add(CompileArray(schema, pointer));
            }
            if ((types & Types.String) != 0)
            {
                branches.Add(CompileString(schema, pointer));
            }
            if ((types & (Types.Number | Types.Integer)) != 0)
            {
                branches.Add(CompileNumber(schema, pointer, integer: (types & Types.Number) == 0));
            }
            if (branches.Count == 1)
            {
                return branches[0];
            }
            if (branches.Count == 0)
            {
                return NewNode(BKind.Never, pointer);
            }
            int union = NewNode(BKind.Union, pointer + "/type");
            nodeList[union].Branches = branches;
            return union;
        }

        private static Types ParseType(JsonElement type, string pointer) => type.GetString() switch
        {
            "null" => Types.Null,
            "boolean" => Types.Boolean,
            "object" => Types.Object,
            "array" => Types.Array,
            "string" => Types.String,
            "number" => Types.Number,
            "integer" => Types.Integer,
            _ => throw Refuse("type", pointer, $"unknown type {type.GetRawText()}."),
        };

        private static bool Matches(JsonElement value, Types types) => value.ValueKind switch
        {
            JsonValueKind.Null => (types & Types.Null) != 0,
            JsonValueKind.True or JsonValueKind.False => (types & Types.Boolean) != 0,
            JsonValueKind.Object => (types & Types.Object) != 0,
            JsonValueKind.Array => (types & Types.Array) != 0,
            JsonValueKind.String => (types & Types.String) != 0,
            JsonValueKind.Number => (types & Types.Number) != 0
                || ((types & Types.Integer) != 0 && value.TryGetDecimal(out decimal d) && decimal.Truncate(d) == d),
            _ => false,
        };

        private static int ReadCount(JsonElement schema, string keyword, string pointer, int fallback)
        {
            if (!schema.TryGetProperty(keyword, out JsonElement value))
            {
                return fallback;
            }
            if (value.ValueKind != JsonValueKind.Number || !value.TryGetDecimal(out decimal d) || d < 0 || decimal.Truncate(d) != d)
            {
                throw Refuse(keyword, pointer, "must be a non-negative integer.");
            }
            return d > int.MaxValue ? int.MaxValue : (int)d;
        }

        private int CompileObject(JsonElement schema, string pointer)
        {
            int node = NewNode(BKind.Object, pointer);
            var properties = new List<(byte[] Key, int Node, bool Required)>();
            var names = new List<string>();
            if (schema.TryGetProperty("properties", out JsonElement declared))
            {
                if (declared.ValueKind != JsonValueKind.Object)
                {
                    throw Refuse("properties", pointer, "must be an object.");
                }
                foreach (JsonProperty property in declared.EnumerateObject())
                {
                    int value = CompileAt(property.Value, $"{pointer}/properties/{EscapePointer(property.Name)}");
                    properties.Add((CanonicalJson.EscapeString(property.Name), value, false));
                    names.Add(property.Name);
                }
            }
            JsonElement additional = default;
            bool hasAdditional = schema.TryGetProperty("additionalProperties", out additional);
            bool additionalFalse = hasAdditional && additional.ValueKind == JsonValueKind.False;
            if (schema.TryGetProperty("required", out JsonElement required))
            {
                if (required.ValueKind != JsonValueKind.Array)
                {
                    throw Refuse("required", pointer, "must be an array of strings.");
                }
                foreach (JsonElement name in required.EnumerateArray())
                {
                    string key = name.GetString() ?? throw Refuse("required", pointer, "must be an array of strings.");
                    int index = names.IndexOf(key);
                    if (index < 0)
                    {
                        if (additionalFalse)
                        {
                            nodeList[node].Kind = BKind.Never; // a required key that may not appear: unsatisfiable
                            return node;
                        }
                        int value = hasAdditional ? CompileAt(additional, pointer + "/additionalProperties") : AnyValue();
                        properties.Add((CanonicalJson.EscapeString(key), value, true));
                        names.Add(key);
                    }
                    else
                    {
                        properties[index] = properties[index] with { Required = true };
                    }
                }
            }
            bool mapMode = properties.Count == 0 && !additionalFalse;
            if (mapMode)
            {
                nodeList[node].Additional = hasAdditional ? CompileAt(additional, pointer + "/additionalProperties") : AnyValue();
            }
            int maxKeys = mapMode ? int.MaxValue : properties.Count;
            int minKeys = 0;
            foreach ((_, _, bool isRequired) in properties)
            {
                minKeys += isRequired ? 1 : 0;
            }
            if (ReadCount(schema, "minProperties", pointer, 0) > minKeys)
            {
                throw Refuse("minProperties", pointer, "only enforced when the required properties already imply it.");
            }
            if (ReadCount(schema, "maxProperties", pointer, int.MaxValue) < maxKeys)
            {
                throw Refuse("maxProperties", pointer, "only enforced when the declared properties already imply it.");
            }
            nodeList[node].Properties = properties;
            return node;
        }

        private int CompileArray(JsonElement schema, string pointer)
        {
            int node = NewNode(BKind.Array, pointer);
            var prefix = new List<int>();
            int items = -2; // -2: absent (any JSON), -1: none
            bool tupleItems = false;
            if (schema.TryGetProperty("prefixItems", out JsonElement prefixItems))
            {
                if (prefixItems.ValueKind != JsonValueKind.Array)
                {
                    throw Refuse("prefixItems", pointer, "must be an array of schemas.");
                }
                int i = 0;
                foreach (JsonElement item in prefixItems.EnumerateArray())
                {
                    prefix.Add(CompileAt(item, $"{pointer}/prefixItems/{i++}"));
                }
            }
            if (schema.TryGetProperty("items", out JsonElement itemsSchema))
            {
                if (itemsSchema.ValueKind == JsonValueKind.Array)
                {
                    if (prefix.Count != 0)
                    {
                        throw Refuse("items", pointer, "an array 'items' beside 'prefixItems' is ambiguous.");
                    }
                    tupleItems = true; // draft 4-2019: items as a tuple, then additionalItems
                    int i = 0;
                    foreach (JsonElement item in itemsSchema.EnumerateArray())
                    {
                        prefix.Add(CompileAt(item, $"{pointer}/items/{i++}"));
                    }
                }
                else
                {
                    items = CompileAt(itemsSchema, pointer + "/items");
                }
            }
            if (schema.TryGetProperty("additionalItems", out JsonElement additionalItems) && tupleItems)
            {
                items = CompileAt(additionalItems, pointer + "/additionalItems");
            }
            nodeList[node].Prefix = prefix;
            nodeList[node].Items = items == -2 ? AnyValue() : items;
            nodeList[node].MinItems = ReadCount(schema, "minItems", pointer, 0);
            nodeList[node].MaxItems = ReadCount(schema, "maxItems", pointer, int.MaxValue);
            if (schema.TryGetProperty("uniqueItems", out JsonElement unique) && unique.ValueKind == JsonValueKind.True
                && nodeList[node].MaxItems > 1)
            {
                throw Refuse("uniqueItems", pointer, "unique items are not enforced (allowed only with maxItems <= 1).");
            }
            if (nodeList[node].MinItems > nodeList[node].MaxItems)
            {
                nodeList[node].Kind = BKind.Never;
            }
            return node;
        }

        // Formats as anchored patterns, each a subset of what the format allows (narrowing, documented per entry).
        private static readonly Dictionary<string, string> Formats = new(StringComparer.Ordinal)
        {
            // Days 29-31 only in months that always have them (no 29 February).
            ["date"] = "^" + DatePattern + "$",
            // No leap second (:60); upper-case Z.
            ["time"] = "^" + TimePattern + "$",
            ["date-time"] = "^" + DatePattern + "T" + TimePattern + "$",
            ["uuid"] = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
            // A dot-atom local part and a host of letter/digit labels with a letter TLD.
            ["email"] = @"^[A-Za-z0-9_+\-]+(?:\.[A-Za-z0-9_+\-]+)*@(?:[a-z0-9](?:[a-z0-9\-]{0,20}[a-z0-9])?\.)+[a-z]{2,12}$",
            // http(s) URLs with a host name, optional port, path, query and fragment (no percent-escapes).
            ["uri"] = @"^https?://[a-z0-9](?:[a-z0-9\-]{0,30}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9\-]{0,30}[a-z0-9])?)*(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~!$&'()*+,;=:@/\-]*)?(?:\?[A-Za-z0-9._~!$&'()*+,;=:@/?\-]*)?(?:#[A-Za-z0-9._~!$&'()*+,;=:@/?\-]*)?$",
        };

        private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, RegexDfa> FormatDfas = new(StringComparer.Ordinal);

        private const string DatePattern =
            @"[0-9]{4}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)";

        private const string TimePattern =
            @"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?(?:Z|[+\-](?:[01][0-9]|2[0-3]):[0-5][0-9])";

        private int CompileString(JsonElement schema, string pointer)
        {
            bool hasPattern = schema.TryGetProperty("pattern", out JsonElement pattern);
            bool hasFormat = schema.TryGetProperty("format", out JsonElement format);
            if (hasPattern || hasFormat)
            {
                foreach (string keyword in (ReadOnlySpan<string>)["minLength", "maxLength"])
                {
                    if (schema.TryGetProperty(keyword, out _))
                    {
                        throw Refuse(keyword, pointer, "a length bound beside 'pattern'/'format' is not supported.");
                    }
                }
                if (hasPattern && hasFormat)
                {
                    throw Refuse("format", pointer, "'format' beside 'pattern' is not supported.");
                }
                string keywordName = hasPattern ? "pattern" : "format";
                string regex;
                if (hasPattern)
                {
                    regex = pattern.ValueKind == JsonValueKind.String ? pattern.GetString()! : throw Refuse("pattern", pointer, "must be a string.");
                }
                else
                {
                    string name = format.ValueKind == JsonValueKind.String ? format.GetString()! : "";
                    if (!Formats.TryGetValue(name, out regex!))
                    {
                        throw Refuse("format", pointer, $"format '{name}' is not enforced (supported: {string.Join(", ", Formats.Keys)}).");
                    }
                }
                // Format automata are the same for every schema: build each once per process.
                RegexDfa dfa = hasPattern
                    ? RegexDfa.Compile(regex, keywordName, pointer)
                    : FormatDfas.GetOrAdd(regex, static r => RegexDfa.Compile(r, "format", ""));
                int patternNode = NewNode(dfa.IsEmpty ? BKind.Never : BKind.Pattern, pointer);
                nodeList[patternNode].Dfa = dfa;
                return patternNode;
            }
            int node = NewNode(BKind.String, pointer);
            nodeList[node].MinLength = ReadCount(schema, "minLength", pointer, 0);
            nodeList[node].MaxLength = ReadCount(schema, "maxLength", pointer, int.MaxValue);
            if (nodeList[node].MinLength > nodeList[node].MaxLength)
            {
                nodeList[node].Kind = BKind.Never;
            }
            return node;
        }

        private int CompileNumber(JsonElement schema, string pointer, bool integer)
        {
            bool hasBounds = false;
            foreach (string keyword in (ReadOnlySpan<string>)["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"])
            {
                hasBounds |= schema.TryGetProperty(keyword, out JsonElement value) && value.ValueKind != JsonValueKind.False;
            }
            if (schema.TryGetProperty("multipleOf", out JsonElement multipleOf))
            {
                if (!integer || !multipleOf.TryGetDecimal(out decimal m) || m != 1m)
                {
                    throw Refuse("multipleOf", pointer, "only multipleOf 1 on integers is enforced.");
                }
            }
            if (!integer)
            {
                return hasBounds ? CompileBoundedNumber(schema, pointer) : NewNode(BKind.Number, pointer);
            }
            int node = NewNode(BKind.Integer, pointer);
            if (!hasBounds)
            {
                return node;
            }
            decimal lo = -MagnitudeCap;
            decimal hi = MagnitudeCap;
            if (schema.TryGetProperty("minimum", out JsonElement minimum))
            {
                bool exclusive = schema.TryGetProperty("exclusiveMinimum", out JsonElement ex) && ex.ValueKind == JsonValueKind.True;
                decimal m = ReadBound(minimum, "minimum", pointer);
                lo = Math.Max(lo, exclusive ? decimal.Floor(m) + 1 : decimal.Ceiling(m));
            }
            if (schema.TryGetProperty("exclusiveMinimum", out JsonElement exMin) && exMin.ValueKind == JsonValueKind.Number)
            {
                lo = Math.Max(lo, decimal.Floor(ReadBound(exMin, "exclusiveMinimum", pointer)) + 1);
            }
            if (schema.TryGetProperty("maximum", out JsonElement maximum))
            {
                bool exclusive = schema.TryGetProperty("exclusiveMaximum", out JsonElement ex) && ex.ValueKind == JsonValueKind.True;
                decimal m = ReadBound(maximum, "maximum", pointer);
                hi = Math.Min(hi, exclusive ? decimal.Ceiling(m) - 1 : decimal.Floor(m));
            }
            if (schema.TryGetProperty("exclusiveMaximum", out JsonElement exMax) && exMax.ValueKind == JsonValueKind.Number)
            {
                hi = Math.Min(hi, decimal.Ceiling(ReadBound(exMax, "exclusiveMaximum", pointer)) - 1);
            }
            lo = Math.Max(lo, -MagnitudeCap);
            hi = Math.Min(hi, MagnitudeCap);
            if (lo > hi)
            {
                nodeList[node].Kind = BKind.Never;
                return node;
            }
            nodeList[node].HasLo = nodeList[node].HasHi = true;
            nodeList[node].Lo = (long)lo;
            nodeList[node].Hi = (long)hi;
            return node;
        }

        // Bounded numbers work in units of 1e-9 so a value fits a long: at most 9 integer and 9 fraction digits.
        private const long NanoCap = 999_999_999_999_999_999;

        private int CompileBoundedNumber(JsonElement schema, string pointer)
        {
            long lo = -NanoCap;
            long hi = NanoCap;
            if (schema.TryGetProperty("minimum", out JsonElement minimum))
            {
                bool exclusive = schema.TryGetProperty("exclusiveMinimum", out JsonElement ex) && ex.ValueKind == JsonValueKind.True;
                lo = Math.Max(lo, Nano(minimum, "minimum", pointer) + (exclusive ? 1 : 0));
            }
            if (schema.TryGetProperty("exclusiveMinimum", out JsonElement exMin) && exMin.ValueKind == JsonValueKind.Number)
            {
                lo = Math.Max(lo, Nano(exMin, "exclusiveMinimum", pointer) + 1);
            }
            if (schema.TryGetProperty("maximum", out JsonElement maximum))
            {
                bool exclusive = schema.TryGetProperty("exclusiveMaximum", out JsonElement ex) && ex.ValueKind == JsonValueKind.True;
                hi = Math.Min(hi, Nano(maximum, "maximum", pointer) - (exclusive ? 1 : 0));
            }
            if (schema.TryGetProperty("exclusiveMaximum", out JsonElement exMax) && exMax.ValueKind == JsonValueKind.Number)
            {
                hi = Math.Min(hi, Nano(exMax, "exclusiveMaximum", pointer) - 1);
            }
            int node = NewNode(lo > hi ? BKind.Never : BKind.BoundedNumber, pointer);
            nodeList[node].Lo = lo;
            nodeList[node].Hi = hi;
            return node;
        }

        /// <summary>A bound in units of 1e-9, clamped to the representable range; finer bounds are refused because the
        /// grid of producible values could miss a non-empty interval.</summary>
        private static long Nano(JsonElement value, string keyword, string pointer)
        {
            decimal d = ReadBound(value, keyword, pointer);
            if (Math.Abs(d) >= 10_000_000_000m)
            {
                return d > 0 ? NanoCap + 1 : -NanoCap - 1; // beyond every producible value
            }
            decimal scaled = d * 1_000_000_000m;
            if (decimal.Truncate(scaled) != scaled)
            {
                throw Refuse(keyword, pointer, "bounds on numbers may have at most 9 decimal places.");
            }
            return scaled > NanoCap ? NanoCap + 1 : scaled < -NanoCap ? -NanoCap - 1 : (long)scaled;
        }

        private static decimal ReadBound(JsonElement value, string keyword, string pointer) =>
            value.ValueKind == JsonValueKind.Number && value.TryGetDecimal(out decimal d)
                ? d
                : throw Refuse(keyword, pointer, "must be a number within ±7.9e28.");

        private static string FirstPresent(JsonElement schema, params ReadOnlySpan<string> keywords)
        {
            foreach (string keyword in keywords)
            {
                if (schema.TryGetProperty(keyword, out _))
                {
                    return keyword;
                }
            }
            return keywords[0];
        }

        private static string EscapePointer(string name) =>
            name.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal);

        private int Resolve(int id)
        {
            int steps = 0;
            while (id >= 0 && nodeList[id].Kind == BKind.Alias)
            {
                if (++steps > nodeList.Count)
                {
                    throw Refuse("$ref", nodeList[id].Pointer, "references form a cycle that never reaches a schema.");
                }
                id = nodeList[id].Target;
            }
            return id;
        }

        private void ResolveAliases()
        {
            foreach (BNode node in nodeList)
            {
                if (node.Properties is { } properties)
                {
                    for (int i = 0; i < properties.Count; i++)
                    {
                        properties[i] = properties[i] with { Node = Resolve(properties[i].Node) };
                    }
                }
                node.Additional = Resolve(node.Additional);
                node.Items = Resolve(node.Items);
                if (node.Prefix is { } prefix)
                {
                    for (int i = 0; i < prefix.Count; i++)
                    {
                        prefix[i] = Resolve(prefix[i]);
                    }
                }
                if (node.Branches is { } branches)
                {
                    for (int i = 0; i < branches.Count; i++)
                    {
                        branches[i] = Resolve(branches[i]);
                    }
                }
            }
        }

        /// <summary>Flattens each union into kind-disjoint branches and a first-byte dispatch table; refuses overlaps.</summary>
        private void BuildUnions()
        {
            for (int id = 0; id < nodeList.Count; id++)
            {
                BNode union = nodeList[id];
                if (union.Kind != BKind.Union)
                {
                    continue;
                }
                var flat = new List<int>();
                Flatten(id, flat, new HashSet<int>(), union.Pointer);
                // Literal sets merge; a plain number subsumes integers.
                var literals = new List<byte[]>();
                bool hasNumber = flat.Exists(b => nodeList[b].Kind == BKind.Number);
                var kept = new List<int>();
                foreach (int branch in flat)
                {
                    BNode b = nodeList[branch];
                    if (b.Kind == BKind.Literal)
                    {
                        foreach (byte[] literal in b.Literals!)
                        {
                            if (!literals.Exists(l => l.AsSpan().SequenceEqual(literal)))
                            {
                                literals.Add(literal);
                            }
                        }
                    }
                    else if (b.Kind == BKind.Never || (b.Kind == BKind.Integer && hasNumber))
                    {
                        continue;
                    }
                    else if (!(b.Kind == BKind.Number && kept.Exists(k => nodeList[k].Kind == BKind.Number)))
                    {
                        kept.Add(branch);
                    }
                }
                if (literals.Count > 0)
                {
                    int literal = NewNode(BKind.Literal, union.Pointer);
                    nodeList[literal].Literals = literals;
                    kept.Add(literal);
                }
                var dispatch = new int[256];
                Array.Fill(dispatch, -1);
                foreach (int branch in kept)
                {
                    foreach (byte first in FirstBytes(nodeList[branch]))
                    {
                        if (dispatch[first] >= 0)
                        {
                            string keyword = union.Pointer.EndsWith("/type", StringComparison.Ordinal) ? "type"
                                : union.Pointer.EndsWith("/oneOf", StringComparison.Ordinal) ? "oneOf" : "anyOf";
                            string at = union.Pointer[..union.Pointer.LastIndexOf('/')];
                            throw Refuse(keyword, at, $"two alternatives can both start with '{(char)first}'; only alternatives that differ in their first byte are supported.");
                        }
                        dispatch[first] = branch;
                    }
                }
                union.Branches = kept;
                union.Dispatch = dispatch;
            }
        }

        private void Flatten(int id, List<int> into, HashSet<int> visiting, string pointer)
        {
            if (!visiting.Add(id))
            {
                throw Refuse("$ref", pointer, "an alternative refers back to itself without consuming input.");
            }
            foreach (int branch in nodeList[id].Branches!)
            {
                if (nodeList[branch].Kind == BKind.Union)
                {
                    Flatten(branch, into, visiting, pointer);
                }
                else
                {
                    into.Add(branch);
                }
            }
            visiting.Remove(id);
        }

        private static IEnumerable<byte> FirstBytes(BNode node)
        {
            switch (node.Kind)
            {
                case BKind.Object: return [(byte)'{'];
                case BKind.Array: return [(byte)'['];
                case BKind.String:
                case BKind.Pattern: return [(byte)'"'];
                case BKind.Number:
                case BKind.BoundedNumber:
                case BKind.Integer: return "-0123456789"u8.ToArray();
                case BKind.Literal:
                    var set = new HashSet<byte>();
                    foreach (byte[] literal in node.Literals!)
                    {
                        set.Add(literal[0]);
                    }
                    return set;
                default: return [];
            }
        }

        /// <summary>Fewest frames each node needs to complete (Bellman-Ford style, from "unproductive" down).</summary>
        private int[] ComputeMinDepth()
        {
            var depth = new int[nodeList.Count];
            Array.Fill(depth, Unproductive);
            bool changed = true;
            while (changed)
            {
                changed = false;
                for (int id = 0; id < nodeList.Count; id++)
                {
                    BNode n = nodeList[id];
                    int d = n.Kind switch
                    {
                        BKind.String or BKind.Number or BKind.Integer or BKind.Literal or BKind.Pattern or BKind.BoundedNumber => 1,
                        BKind.Object => ObjectDepth(n, depth),
                        BKind.Array => ArrayDepth(n, depth),
                        BKind.Union => UnionDepth(n, depth),
                        BKind.Alias => depth[Resolve(id)],
                        _ => Unproductive,
                    };
                    if (d < depth[id])
                    {
                        depth[id] = d;
                        changed = true;
                    }
                }
                if (clock.Elapsed > options.MaxCompileTime)
                {
                    throw new SchemaNotSupportedException("maxCompileTime", "", $"compiling took longer than {options.MaxCompileTime.TotalMilliseconds} ms.");
                }
            }
            return depth;
        }

        private static int ObjectDepth(BNode n, int[] depth)
        {
            int d = 1;
            foreach ((_, int node, bool required) in n.Properties!)
            {
                if (required)
                {
                    d = Math.Max(d, depth[node] >= Unproductive ? Unproductive : depth[node] + 1);
                }
            }
            return d;
        }

        private static int ArrayDepth(BNode n, int[] depth)
        {
            int d = 1;
            for (int i = 0; i < n.MinItems; i++)
            {
                int element = i < n.Prefix!.Count ? n.Prefix[i] : n.Items;
                if (element < 0 || depth[element] >= Unproductive)
                {
                    return Unproductive;
                }
                d = Math.Max(d, depth[element] + 1);
                if (i >= n.Prefix.Count)
                {
                    break; // the rest are the same node
                }
            }
            return d;
        }

        private static int UnionDepth(BNode n, int[] depth)
        {
            int d = Unproductive;
            foreach (int branch in n.Branches!)
            {
                d = Math.Min(d, depth[branch]);
            }
            return d;
        }

        private JsonGrammar Emit(int rootNode, int[] minDepth)
        {
            // One extra node at the end: the unconstrained string used for map keys.
            var nodes = new GrammarNode[nodeList.Count + 1];
            nodes[^1] = new GrammarNode { Kind = GrammarNodeKind.String, MinDepth = 1, Max = int.MaxValue };
            var keyBytes = new List<byte>();
            var keyStart = new List<int>();
            var keyLength = new List<int>();
            var propertyNode = new List<int>();
            var nextRequired = new List<int>();
            var prefixNodes = new List<int>();
            var literalBytes = new List<byte>();
            var literalStart = new List<int>();
            var literalLength = new List<int>();
            var dispatch = new List<int>();
            var patterns = new List<RegexDfa>();
            for (int id = 0; id < nodeList.Count; id++)
            {
                BNode n = nodeList[id];
                ref GrammarNode g = ref nodes[id];
                g.MinDepth = Math.Min(minDepth[id], Unproductive);
                switch (n.Kind)
                {
                    case BKind.Object:
                        g.Kind = GrammarNodeKind.Object;
                        g.A = keyStart.Count;
                        g.B = n.Properties!.Count;
                        g.C = n.Additional;
                        int first = keyStart.Count;
                        foreach ((byte[] key, int value, _) in n.Properties)
                        {
                            keyStart.Add(keyBytes.Count);
                            keyLength.Add(key.Length);
                            keyBytes.AddRange(key);
                            propertyNode.Add(value);
                            nextRequired.Add(0);
                        }
                        int next = first + n.Properties.Count;
                        for (int i = n.Properties.Count - 1; i >= 0; i--)
                        {
                            if (n.Properties[i].Required)
                            {
                                next = first + i;
                            }
                            nextRequired[first + i] = next;
                        }
                        break;
                    case BKind.Array:
                        g.Kind = GrammarNodeKind.Array;
                        g.A = prefixNodes.Count;
                        g.B = n.Prefix!.Count;
                        g.C = n.Items;
                        g.D = n.MinItems;
                        g.Max = n.MaxItems;
                        prefixNodes.AddRange(n.Prefix);
                        break;
                    case BKind.String:
                        g.Kind = GrammarNodeKind.String;
                        g.A = n.MinLength;
                        g.Max = n.MaxLength;
                        break;
                    case BKind.Number:
                        g.Kind = GrammarNodeKind.Number;
                        break;
                    case BKind.BoundedNumber:
                        g.Kind = GrammarNodeKind.BoundedNumber;
                        g.Lo = n.Lo;
                        g.Hi = n.Hi;
                        break;
                    case BKind.Pattern:
                        g.Kind = GrammarNodeKind.Pattern;
                        g.A = patterns.Count;
                        patterns.Add(n.Dfa!);
                        break;
                    case BKind.Integer:
                        g.Kind = GrammarNodeKind.Integer;
                        g.A = n.HasLo || n.HasHi ? 1 : 0;
                        g.Lo = n.Lo;
                        g.Hi = n.Hi;
                        break;
                    case BKind.Literal:
                        g.Kind = GrammarNodeKind.Literal;
                        g.A = literalStart.Count;
                        g.B = n.Literals!.Count;
                        foreach (byte[] literal in n.Literals)
                        {
                            literalStart.Add(literalBytes.Count);
                            literalLength.Add(literal.Length);
                            literalBytes.AddRange(literal);
                        }
                        break;
                    case BKind.Union:
                        g.Kind = GrammarNodeKind.Union;
                        g.A = dispatch.Count;
                        foreach (int branch in n.Dispatch!)
                        {
                            dispatch.Add(branch >= 0 && minDepth[branch] >= Unproductive ? -1 : branch);
                        }
                        break;
                    default:
                        // Aliases are resolved away and Never nodes are unproductive: no frame is ever pushed for them.
                        g.Kind = GrammarNodeKind.Literal;
                        g.MinDepth = Unproductive;
                        break;
                }
            }
            return new JsonGrammar(nodes, Resolve(rootNode), [.. keyBytes], [.. keyStart], [.. keyLength], [.. propertyNode],
                [.. nextRequired], [.. prefixNodes], [.. literalBytes], [.. literalStart], [.. literalLength], [.. dispatch], [.. patterns]);
        }
    }
}
