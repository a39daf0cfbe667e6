using System;
using System.Collections;
using System.Collections.Generic;

namespace OnnxLm.Generators
{
    /// <summary>
    /// An immutable array compared by content, so model records that hold one compare by value and the incremental
    /// pipeline can tell "same model" from "new model" (ImmutableArray compares by reference).
    /// </summary>
    internal readonly struct EquatableArray<T> : IEquatable<EquatableArray<T>>, IEnumerable<T> where T : IEquatable<T>
    {
        readonly T[]? items;

        public EquatableArray(T[] items) => this.items = items;

        public int Length => items?.Length ?? 0;

        public T this[int index] => items![index];

        public bool Equals(EquatableArray<T> other)
        {
            var a = items ?? Array.Empty<T>();
            var b = other.items ?? Array.Empty<T>();
            if (a.Length != b.Length) return false;
            for (int i = 0; i < a.Length; i++)
                if (!EqualityComparer<T>.Default.Equals(a[i], b[i])) return false;
            return true;
        }

        public override bool Equals(object? obj) => obj is EquatableArray<T> other && Equals(other);

        public override int GetHashCode()
        {
            int hash = 17;
            if (items is null) return hash;
            foreach (var item in items) hash = unchecked(hash * 31 + (item is null ? 0 : item.GetHashCode()));
            return hash;
        }

        public IEnumerator<T> GetEnumerator() => ((IEnumerable<T>)(items ?? Array.Empty<T>())).GetEnumerator();

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
    }
}
