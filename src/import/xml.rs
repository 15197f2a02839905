//! Reading XML as exports really are: lenient about what real files get wrong.
