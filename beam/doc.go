// Package beam runs mlseal's dataset operations as Apache Beam transforms.
package beam
