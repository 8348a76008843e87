//! The standard images: where they come from, where they live, how to fetch them.
