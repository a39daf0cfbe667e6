namespace OnnxLm.Engine.Cache;

/// <summary>
/// On a <c>T[]</c> field of a <see cref="StructOfArraysAttribute"/> record: every record owns a span of T whose length
/// is fixed when the storage is constructed (e.g. the token ids of a block). Stored as one flat array of
/// capacity × length; the accessor returns that record's span.
/// </summary>
[AttributeUsage(AttributeTargets.Field, AllowMultiple = false, Inherited = false)]
public sealed class SpanColumnAttribute : Attribute;
