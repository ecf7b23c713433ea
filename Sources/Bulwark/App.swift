public enum BulwarkPlaceholder {}
