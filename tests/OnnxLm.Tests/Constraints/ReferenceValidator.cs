using System.Globalization;
using System.Text.Json;

namespace OnnxLm.Tests.Constraints;

/// <summary>
/// A plain recursive JSON-schema validator for the keywords the corpus uses, written independently of the compiler
/// (it walks the parsed instance, not bytes), so generated documents are checked by a second implementation.
/// </summary>
internal sealed class ReferenceValidator(JsonElement root)
{
    public bool IsValid(JsonElement instance) => Check(root, instance);

    private bool Check(JsonElement schema, JsonElement value)
    {
        if (schema.ValueKind == JsonValueKind.True) return true;
        if (schema.ValueKind == JsonValueKind.False) return false;
        if (schema.TryGetProperty("$ref", out JsonElement reference)) return Check(Resolve(reference.GetString()!), value);
        if (schema.TryGetProperty("allOf", out JsonElement allOf) && !allOf.EnumerateArray().All(s => Check(s, value))) return false;
        if (schema.TryGetProperty("anyOf", out JsonElement anyOf) && !anyOf.EnumerateArray().Any(s => Check(s, value))) return false;
        if (schema.TryGetProperty("oneOf", out JsonElement oneOf) && oneOf.EnumerateArray().Count(s => Check(s, value)) != 1) return false;
        if (schema.TryGetProperty("enum", out JsonElement e) && !e.EnumerateArray().Any(v => Equal(v, value))) return false;
        if (schema.TryGetProperty("const", out JsonElement c) && !Equal(c, value)) return false;
        if (schema.TryGetProperty("type", out JsonElement type))
        {
            var types = type.ValueKind == JsonValueKind.Array ? type.EnumerateArray().Select(t => t.GetString()!).ToList() : [type.GetString()!];
            if (schema.TryGetProperty("nullable", out JsonElement n) && n.ValueKind == JsonValueKind.True) types.Add("null");
            if (!types.Any(t => HasType(value, t))) return false;
        }
        switch (value.ValueKind)
        {
            case JsonValueKind.Object:
                var names = new HashSet<string>();
                foreach (JsonProperty p in value.EnumerateObject())
                {
                    names.Add(p.Name);
                    if (schema.TryGetProperty("properties", out JsonElement props) && props.TryGetProperty(p.Name, out JsonElement ps))
                    {
                        if (!Check(ps, p.Value)) return false;
                    }
                    else if (schema.TryGetProperty("additionalProperties", out JsonElement ap) && !Check(ap, p.Value))
                    {
                        return false;
                    }
                }
                if (schema.TryGetProperty("required", out JsonElement req) && !req.EnumerateArray().All(r => names.Contains(r.GetString()!))) return false;
                break;
            case JsonValueKind.Array:
                JsonElement[] items = [.. value.EnumerateArray()];
                int prefix = 0;
                if (schema.TryGetProperty("prefixItems", out JsonElement pi))
                {
                    JsonElement[] ps = [.. pi.EnumerateArray()];
                    prefix = ps.Length;
                    for (int i = 0; i < Math.Min(ps.Length, items.Length); i++) if (!Check(ps[i], items[i])) return false;
                }
                if (schema.TryGetProperty("items", out JsonElement it))
                {
                    for (int i = prefix; i < items.Length; i++) if (!Check(it, items[i])) return false;
                }
                if (schema.TryGetProperty("minItems", out JsonElement min) && items.Length < min.GetInt32()) return false;
                if (schema.TryGetProperty("maxItems", out JsonElement max) && items.Length > max.GetInt32()) return false;
                break;
            case JsonValueKind.String:
                int length = value.GetString()!.EnumerateRunes().Count();
                if (schema.TryGetProperty("minLength", out JsonElement minL) && length < minL.GetInt32()) return false;
                if (schema.TryGetProperty("maxLength", out JsonElement maxL) && length > maxL.GetInt32()) return false;
                if (schema.TryGetProperty("pattern", out JsonElement pattern)
                    && !System.Text.RegularExpressions.Regex.IsMatch(value.GetString()!, pattern.GetString()!, System.Text.RegularExpressions.RegexOptions.ECMAScript))
                {
                    return false;
                }
                break;
            case JsonValueKind.Number:
                double d = value.GetDouble();
                if (schema.TryGetProperty("minimum", out JsonElement mn) && d < mn.GetDouble()) return false;
                if (schema.TryGetProperty("maximum", out JsonElement mx) && d > mx.GetDouble()) return false;
                if (schema.TryGetProperty("exclusiveMinimum", out JsonElement emn) && d <= emn.GetDouble()) return false;
                if (schema.TryGetProperty("exclusiveMaximum", out JsonElement emx) && d >= emx.GetDouble()) return false;
                break;
        }
        return true;
    }

    private static bool HasType(JsonElement value, string type) => type switch
    {
        "null" => value.ValueKind == JsonValueKind.Null,
        "boolean" => value.ValueKind is JsonValueKind.True or JsonValueKind.False,
        "object" => value.ValueKind == JsonValueKind.Object,
        "array" => value.ValueKind == JsonValueKind.Array,
        "string" => value.ValueKind == JsonValueKind.String,
        "number" => value.ValueKind == JsonValueKind.Number,
        "integer" => value.ValueKind == JsonValueKind.Number
            && double.Parse(value.GetRawText(), CultureInfo.InvariantCulture) is var d && Math.Floor(d) == d,
        _ => false,
    };

    private static bool Equal(JsonElement a, JsonElement b) =>
        a.ValueKind == JsonValueKind.Number && b.ValueKind == JsonValueKind.Number
            ? a.GetDecimal() == b.GetDecimal()
            : JsonElement.DeepEquals(a, b);

    private JsonElement Resolve(string reference)
    {
        JsonElement target = root;
        foreach (string part in reference.TrimStart('#').Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            target = target.GetProperty(part.Replace("~1", "/").Replace("~0", "~"));
        }
        return target;
    }
}
