namespace OnnxLm.Http.Parsing;

/// <summary>
/// Marks a <c>partial class</c> as a JSON request body. The OnnxLm generator emits <c>TryParse</c>, <c>Reset</c> and an
/// allocation-free <see cref="System.Text.Json.Utf8JsonReader"/> loop over the members marked <see cref="JsonFieldAttribute"/>.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class JsonRequestAttribute : Attribute;
