namespace OnnxLm.Generators
{
    /// <summary>The wire shape of a [JsonField] member, decided by its C# type.</summary>
    internal enum FieldKind
    {
        Boolean,
        Int32,
        Int64,
        Single,
        Double,
        /// <summary>Utf8Slice: a string left in the request buffer.</summary>
        String,
        /// <summary>Utf8SliceList: a string or an array of strings.</summary>
        Strings,
        /// <summary>TextContent: a string or an array of text content parts.</summary>
        TextContent,
        /// <summary>TokenBiasMap: an object from token ids to numbers.</summary>
        TokenBias,
        /// <summary>PromptInput: a string, an array of strings or an array of token ids.</summary>
        Prompt,
        /// <summary>RawJson: any value, stepped over and located.</summary>
        Raw,
        /// <summary>A nested [JsonRequest] object.</summary>
        Object,
        /// <summary>PooledList of a [JsonRequest] type.</summary>
        ObjectList,
    }
}
